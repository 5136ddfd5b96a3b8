"""DKEL's distillation terms as pure functions (Shao & Chen, arXiv
2312.11218), on the shared KL of :mod:`.functional`.

* Soft-target distillation :func:`soft_kd_loss`:
  :math:`\\tau^2 \\, \\mathrm{KL}(\\sigma(z^t/\\tau) \\| \\sigma(z^s/\\tau))`,
  averaged over the batch, target detached.
* The decoupled peer term :func:`decoupled_peer_kd`: a decaying mix of the
  distillation from the other branches' teachers' ensemble and from each of
  them.
"""
from typing import Sequence

import torch
from torch import Tensor

from .functional import kl_per_sample

__all__ = ['soft_kd_loss', 'decoupled_peer_kd']


def soft_kd_loss(student_logits: Tensor, target_logits: Tensor,
                 tau: float = 3.0) -> Tensor:
    """Hinton's soft-target loss,
    :math:`\\tau^2 \\, \\mathrm{KL}(\\sigma(z^t/\\tau) \\| \\sigma(z^s/\\tau))`
    summed over classes and averaged over the batch. The target is detached.

    Args:
        student_logits (Tensor): :math:`z^s`, shape ``(N, C)``.
        target_logits (Tensor): :math:`z^t`, shape ``(N, C)``.
        tau (float): Temperature :math:`\\tau`. Defaults to 3.0.

    Returns:
        Tensor: The scalar loss, ``float32``.
    """
    return kl_per_sample(student_logits, target_logits.detach(), tau).mean()


def decoupled_peer_kd(student_logits: Tensor,
                      teacher_logits: Sequence[Tensor], decay_weight: float,
                      tau: float) -> Tensor:
    """DKEL's peer term of one branch :math:`i`:

    .. math::

        w_e KD\\big(z_i, \\tfrac{1}{N-1} \\textstyle\\sum_{j \\ne i} t_j\\big)
        + (1 - w_e) \\tfrac{1}{N-1} \\textstyle\\sum_{j \\ne i} KD(z_i, t_j)

    with :math:`KD` = :func:`soft_kd_loss` and :math:`w_e` from
    :func:`~.schedules.decay_weight` (only the second part once it is 0).

    Args:
        student_logits (Tensor): :math:`z_i`, shape ``(N, C)``.
        teacher_logits (Sequence[Tensor]): The other branches' teachers'
            logits :math:`t_j`, each ``(N, C)``; detached here.
        decay_weight (float): :math:`w_e`.
        tau (float): Temperature.

    Returns:
        Tensor: The scalar loss, ``float32``.
    """
    others = [t.detach() for t in teacher_logits]
    individual = sum(soft_kd_loss(student_logits, t, tau)
                     for t in others) / len(others)
    if decay_weight > 0:
        ensemble = torch.stack(others).mean(0)
        return decay_weight * soft_kd_loss(student_logits, ensemble, tau) + (
            1.0 - decay_weight) * individual
    return individual
