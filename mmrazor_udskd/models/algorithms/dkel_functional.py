"""Pure functions behind DKEL, decoupled knowledge with ensemble learning
(Shao & Chen, arXiv 2312.11218).

The schedule functions take plain numbers and return plain floats, so that
they can be checked by hand; the two tensor functions (:func:`ema_update_`
and :func:`soft_kd_loss`) hold the only tensor arithmetic of the method.

* EMA momentum of the decoupled teachers (the mean-teacher rule):
  :math:`\\alpha_s = \\min(1 - \\frac{1}{s + 1}, \\alpha_{max})`,
  :math:`\\theta^T \\leftarrow \\alpha_s \\theta^T + (1 - \\alpha_s)\\theta^S`.
* Decaying ensemble weight: :math:`w_e = e^{-k e}`, set to 0 once it falls
  below a cut-off.
* Sigmoid ramp-up of the distillation terms:
  :math:`r_e = \\exp(-5 (1 - \\min(e, T) / T)^2)`, :math:`r_e = 1` when
  :math:`T = 0`.
* Soft-target distillation:
  :math:`\\tau^2 \\, \\mathrm{KL}(\\sigma(z^t/\\tau) \\| \\sigma(z^s/\\tau))`,
  averaged over the batch.
"""
import math
from typing import Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    'ema_momentum', 'decay_weight', 'sigmoid_rampup', 'ema_update_',
    'soft_kd_loss'
]


def ema_momentum(step: int, max_momentum: float = 0.999) -> float:
    """Momentum of the EMA teacher at update ``step``.

    :math:`\\alpha_s = \\min(1 - 1 / (s + 1), \\alpha_{max})`: the first
    update (``step=0``) copies the student, the following ones are the true
    running mean of the student's weights until that mean would forget more
    slowly than ``max_momentum`` allows (arXiv 2312.11218, after Tarvainen &
    Valpola's mean teacher).

    Args:
        step (int): Number of EMA updates done before this one (>= 0).
        max_momentum (float): Upper bound :math:`\\alpha_{max}`.
            Defaults to 0.999.

    Returns:
        float: The momentum :math:`\\alpha_s` in ``[0, max_momentum]``.
    """
    if step < 0:
        raise ValueError(f'step must be >= 0, got {step}')
    return min(1.0 - 1.0 / (step + 1), float(max_momentum))


def decay_weight(epoch: float, k: float = 0.5, cutoff: float = 0.01) -> float:
    """Weight of the teachers' ensemble in DKEL's decaying ensemble scheme.

    :math:`w_e = e^{-k e}` if :math:`e^{-k e} \\ge` ``cutoff`` else 0
    (arXiv 2312.11218, Sec. "decaying ensemble"): large at the start of
    training, when the ensemble of the teachers is the stronger target, then
    gone, so that an over-fitted ensemble no longer biases the students.

    Args:
        epoch (float): Current epoch, 0-based.
        k (float): Decay rate. Defaults to 0.5.
        cutoff (float): Weights below this value become 0. Defaults to 0.01.

    Returns:
        float: The weight :math:`w_e` in ``[0, 1]``.
    """
    weight = math.exp(-float(k) * float(epoch))
    return weight if weight >= cutoff else 0.0


def sigmoid_rampup(epoch: float, length: float) -> float:
    """Sigmoid-shaped ramp-up from about 0 to 1 over ``length`` epochs.

    :math:`r_e = \\exp(-5 (1 - t)^2)` with :math:`t = \\mathrm{clip}(e / T,
    0, 1)`; :math:`r_e = 1` when :math:`T = 0` (ramp-up off). Unlike the
    authors' helper, which divides the epoch by the loss weight instead of
    the ramp length (so that the terms stay near 0 for 80 epochs), ``t``
    here reaches 1 exactly at ``epoch == length``.

    Args:
        epoch (float): Current epoch, 0-based.
        length (float): Ramp-up length in epochs; 0 switches it off.

    Returns:
        float: The ramp-up factor :math:`r_e` in ``(0, 1]``.
    """
    if length < 0:
        raise ValueError(f'length must be >= 0, got {length}')
    if length == 0:
        return 1.0
    t = min(max(float(epoch), 0.0), float(length)) / float(length)
    return math.exp(-5.0 * (1.0 - t)**2)


@torch.no_grad()
def ema_update_(ema_params: Iterable[nn.Parameter],
                params: Iterable[nn.Parameter], momentum: float) -> None:
    """In-place EMA step :math:`\\theta^T \\leftarrow \\alpha \\theta^T +
    (1 - \\alpha) \\theta^S` over matching parameter lists.

    Args:
        ema_params (Iterable[nn.Parameter]): The teacher's parameters,
            updated in place.
        params (Iterable[nn.Parameter]): The student's parameters, in the
            same order.
        momentum (float): :math:`\\alpha`, see :func:`ema_momentum`.
    """
    ema_params = list(ema_params)
    params = list(params)
    if len(ema_params) != len(params):
        raise ValueError('teacher and student have different numbers of '
                         f'parameters: {len(ema_params)} vs {len(params)}')
    for ema_p, p in zip(ema_params, params):
        ema_p.mul_(momentum).add_(p.detach().to(ema_p.dtype),
                                  alpha=1.0 - momentum)


def soft_kd_loss(student_logits: torch.Tensor, target_logits: torch.Tensor,
                 tau: float = 3.0) -> torch.Tensor:
    """Hinton's soft-target loss,
    :math:`\\tau^2 \\, \\mathrm{KL}(\\sigma(z^t/\\tau) \\| \\sigma(z^s/\\tau))`
    summed over classes and averaged over the batch. The target is detached.

    Args:
        student_logits (torch.Tensor): :math:`z^s`, shape ``(N, C)``.
        target_logits (torch.Tensor): :math:`z^t`, shape ``(N, C)``.
        tau (float): Temperature :math:`\\tau`. Defaults to 3.0.

    Returns:
        torch.Tensor: The scalar loss.
    """
    log_p_s = F.log_softmax(student_logits / tau, dim=1)
    log_p_t = F.log_softmax(target_logits.detach() / tau, dim=1)
    kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=1).mean()
    return kl * tau * tau
