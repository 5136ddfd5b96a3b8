"""Pure functions for the distillation losses, one per paper equation.

Every function takes ``(B, C)`` logits (batch first, classes second), casts
them to ``float32`` before any arithmetic (so ``float16`` / ``bfloat16``
inputs neither overflow nor lose the small probabilities) and returns
``float32`` results. Probabilities are always formed through
:func:`torch.log_softmax`, so very large logits (e.g. ``±1e4``) are safe, and
``-inf`` logits (masked classes) follow the convention ``0 · log 0 = 0``
without producing ``NaN`` values or ``NaN`` gradients.

Equations:

* UDSKD (Gore, Dey, Mishra, arXiv 2511.18826): teacher entropy
  :func:`teacher_entropy`, the uncertainty-derived confidence weight
  :func:`confidence_weight`, the weighted teacher→student KD term
  :func:`weighted_kd` and the student↔student peer term :func:`peer_kl`.
* Hinton KD (arXiv 1503.02531): :func:`kl_per_sample`, ``KL(p_T ‖ p_S)``;
  its reverse :func:`reverse_kl_per_sample`, ``KL(p_S ‖ p_T)``, the direction
  the UDSKD paper writes; :func:`directed_kl_per_sample` picks one by name.

CKD's functions are in :mod:`.ckd_functional`, DKEL's in
:mod:`.dkel_functional`.

Reductions: the functions here take ``reduction='mean'`` to mean the mean
over the **batch** of the per-sample losses (each summed over classes),
i.e. PyTorch's ``'batchmean'``. The registered loss classes follow
``F.kl_div`` and MMRazor's ``KLDivergence`` instead: there ``'batchmean'``
is that batch mean and ``'mean'`` divides the sum by ``B·C`` (see
:func:`reduce_loss`).
"""
import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from ...utils.validation import check_choice, check_positive

__all__ = [
    'teacher_entropy', 'confidence_weight', 'kl_per_sample',
    'reverse_kl_per_sample', 'directed_kl_per_sample', 'weighted_kd',
    'peer_kl', 'reduce_per_sample', 'reduce_loss', 'WEIGHT_MODES',
    'SAMPLE_REDUCTIONS', 'LOSS_REDUCTIONS', 'KL_DIRECTIONS'
]

#: the confidence-weight modes accepted by :func:`confidence_weight`
WEIGHT_MODES = ('entropy', 'margin', 'none')
#: the reductions accepted by :func:`reduce_per_sample`
SAMPLE_REDUCTIONS = ('mean', 'sum', 'none')
#: the reductions accepted by :func:`reduce_loss` (and the loss classes)
LOSS_REDUCTIONS = ('batchmean', 'mean', 'sum', 'none')
#: the KL directions of :func:`directed_kl_per_sample`: ``'forward'`` is
#: ``KL(target ‖ student)`` (Hinton's, MMRazor's ``KLDivergence``),
#: ``'reverse'`` is ``KL(student ‖ target)`` (as the UDSKD paper writes it)
KL_DIRECTIONS = ('forward', 'reverse')


def _check_logits(logits: Tensor, name: str) -> None:
    """Raise ``ValueError`` unless ``logits`` is a 2-D ``(B, C)`` tensor."""
    if not isinstance(logits, Tensor) or logits.dim() != 2:
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else None
        raise ValueError(f'`{name}` must be a (B, C) tensor of logits, '
                         f'got shape {shape}')


def _check_pair(logits_S: Tensor, logits_T: Tensor) -> None:
    """Raise ``ValueError`` unless both are ``(B, C)`` logits of one shape."""
    _check_logits(logits_S, 'logits_S')
    _check_logits(logits_T, 'logits_T')
    if logits_S.shape != logits_T.shape:
        raise ValueError(f'logits_S {tuple(logits_S.shape)} and logits_T '
                         f'{tuple(logits_T.shape)} must have the same shape')


def _log_probs(logits: Tensor, tau: float) -> Tensor:
    """``log softmax(z / tau)`` over dim 1, computed in ``float32``."""
    return F.log_softmax(logits.float() / tau, dim=1)


def reduce_per_sample(values: Tensor, reduction: str = 'mean') -> Tensor:
    """Reduce a per-sample ``(B,)`` loss over the batch.

    Args:
        values (Tensor): Per-sample losses, shape ``(B,)``.
        reduction (str): ``'mean'`` (average over the batch, i.e. PyTorch's
            ``'batchmean'`` for a KL summed over classes), ``'sum'`` or
            ``'none'`` (return ``values`` unchanged). Defaults to ``'mean'``.

    Returns:
        Tensor: A scalar, or ``values`` for ``'none'``.
    """
    check_choice(reduction, SAMPLE_REDUCTIONS, 'reduction')
    if reduction == 'mean':
        return values.mean()
    return values.sum() if reduction == 'sum' else values


def reduce_loss(values: Tensor, reduction: str, num_classes: int) -> Tensor:
    """Reduce a per-sample ``(B,)`` loss as the registered loss classes do.

    Args:
        values (Tensor): Per-sample losses (each summed over classes),
            shape ``(B,)``.
        reduction (str): ``'batchmean'`` (sum / ``B``, the papers' form),
            ``'mean'`` (sum / ``(B·C)``, as ``F.kl_div`` and MMRazor's
            ``KLDivergence``), ``'sum'`` or ``'none'`` (``values``).
        num_classes (int): ``C``, the number of classes of the logits.

    Returns:
        Tensor: A scalar, or ``values`` for ``'none'``.
    """
    check_choice(reduction, LOSS_REDUCTIONS, 'reduction')
    if reduction == 'batchmean':
        return values.mean()
    if reduction == 'mean':
        return values.sum() / max(values.numel() * num_classes, 1)
    if reduction == 'sum':
        return values.sum()
    return values


def teacher_entropy(logits_T: Tensor, tau: float = 1.0) -> Tensor:
    r"""Shannon entropy of the tempered teacher distribution, per sample.

    .. math::
        H_i = -\sum_{c=1}^{C} p_{ic} \log p_{ic}, \qquad
        p_i = \mathrm{softmax}(z^T_i / \tau)

    (UDSKD, arXiv 2511.18826, the teacher-uncertainty estimate). Computed from
    ``log_softmax``; classes with ``p = 0`` (``-inf`` logits or underflow)
    contribute exactly ``0``.

    Args:
        logits_T (Tensor): Teacher logits, shape ``(B, C)``.
        tau (float): Softmax temperature. Defaults to 1.0.

    Returns:
        Tensor: Entropies in nats, shape ``(B,)``, ``float32``, in
        ``[0, log C]``.
    """
    _check_logits(logits_T, 'logits_T')
    check_positive(tau, 'tau')
    log_p = _log_probs(logits_T, tau)
    p = log_p.exp()
    # 0 * log 0 := 0 ; mask the log first so no -inf * 0 = NaN is formed
    # (neither in the value nor in the gradient).
    safe_log_p = torch.where(p > 0, log_p, torch.zeros_like(log_p))
    return -(p * safe_log_p).sum(dim=1)


def confidence_weight(logits_T: Tensor,
                      tau: float = 1.0,
                      mode: str = 'entropy') -> Tensor:
    r"""Per-sample confidence weight of the teacher (detached, in ``[0, 1]``).

    UDSKD (arXiv 2511.18826) scales each sample's distillation term by how
    certain the teacher is:

    * ``'entropy'``: :math:`w_i = 1 - H_i / \log C` with :math:`H_i` from
      :func:`teacher_entropy` at temperature ``tau``; ``w = 0`` for a uniform
      teacher, ``w → 1`` for a one-hot teacher. ``C == 1`` gives ``w = 1``.
    * ``'margin'``: :math:`w_i = p_{i,(1)} - p_{i,(2)}`, the gap between the
      top-1 and top-2 tempered teacher probabilities; ``C == 1`` gives 1.
    * ``'none'``: :math:`w_i = 1` (plain Hinton KD).

    Args:
        logits_T (Tensor): Teacher logits, shape ``(B, C)``.
        tau (float): Temperature of the teacher softmax. Defaults to 1.0.
        mode (str): ``'entropy'``, ``'margin'`` or ``'none'``.
            Defaults to ``'entropy'``.

    Returns:
        Tensor: Weights, shape ``(B,)``, ``float32``, no gradient.

    Raises:
        ValueError: For an unknown ``mode``.
    """
    if mode not in WEIGHT_MODES:
        raise ValueError(f'Unknown confidence-weight mode {mode!r}: `mode` '
                         f'(a.k.a. `weighting`) must be one of {WEIGHT_MODES}')
    _check_logits(logits_T, 'logits_T')
    check_positive(tau, 'tau')
    logits_T = logits_T.detach()
    batch, num_classes = logits_T.shape
    ones = logits_T.new_ones(batch, dtype=torch.float32)
    if mode == 'none' or num_classes == 1:
        return ones
    if mode == 'entropy':
        entropy = teacher_entropy(logits_T, tau)
        weight = 1.0 - entropy / math.log(num_classes)
    else:  # margin
        top2 = _log_probs(logits_T, tau).exp().topk(2, dim=1).values
        weight = top2[:, 0] - top2[:, 1]
    return weight.clamp(0.0, 1.0)


def _kl_rows(log_p: Tensor, log_q: Tensor) -> Tensor:
    """``Σ_c p (log p - log q)`` per row, for log-probabilities ``log_p`` and
    ``log_q``; classes outside ``p``'s support add exactly ``0`` (both logs
    are masked there first, so ``(-inf) - (-inf)`` is never formed)."""
    p = log_p.exp()
    support = p > 0
    zeros = torch.zeros_like(log_p)
    diff = (torch.where(support, log_p, zeros) -
            torch.where(support, log_q, zeros))
    return (p * diff).sum(dim=1)


def kl_per_sample(logits_S: Tensor, logits_T: Tensor, tau: float) -> Tensor:
    r"""Temperature-scaled KL(teacher ‖ student), summed over classes.

    .. math::
        \ell_i = \tau^2 \sum_c p^T_{ic}
            \left(\log p^T_{ic} - \log p^S_{ic}\right), \qquad
        p^{\{S,T\}}_i = \mathrm{softmax}(z^{\{S,T\}}_i / \tau)

    The ``'forward'`` direction (Hinton et al., arXiv 1503.02531; the
    direction of MMRazor's ``KLDivergence``): the student must cover every
    class the target gives mass to. Classes where the teacher has zero
    probability add exactly ``0``, even where the student logit is ``-inf``
    too. The teacher is **not** detached here; callers decide.

    Args:
        logits_S (Tensor): Student logits, shape ``(B, C)``.
        logits_T (Tensor): Teacher (target) logits, shape ``(B, C)``.
        tau (float): Temperature ``τ``.

    Returns:
        Tensor: Per-sample losses, shape ``(B,)``, ``float32``.
    """
    _check_pair(logits_S, logits_T)
    check_positive(tau, 'tau')
    return (tau**2) * _kl_rows(_log_probs(logits_T, tau),
                               _log_probs(logits_S, tau))


def reverse_kl_per_sample(logits_S: Tensor, logits_T: Tensor,
                          tau: float) -> Tensor:
    r"""Temperature-scaled KL(student ‖ teacher), summed over classes.

    .. math::
        \ell_i = \tau^2 \sum_c p^S_{ic}
            \left(\log p^S_{ic} - \log p^T_{ic}\right)

    The ``'reverse'`` direction, the one the UDSKD paper (arXiv 2511.18826)
    writes, :math:`\mathrm{KL}(q_S \| p_T)` and
    :math:`\mathrm{KL}(q_{S_i} \| q_{S_j})`: mode-seeking, the student is
    not pushed to cover classes it already gives no mass to. Classes where
    the student has zero probability add exactly ``0``; a class where the
    student has mass and the target has none makes the loss ``+inf``. The
    teacher is **not** detached here; callers decide.

    Args:
        logits_S (Tensor): Student logits, shape ``(B, C)``.
        logits_T (Tensor): Teacher (target) logits, shape ``(B, C)``.
        tau (float): Temperature ``τ``.

    Returns:
        Tensor: Per-sample losses, shape ``(B,)``, ``float32``.
    """
    _check_pair(logits_S, logits_T)
    check_positive(tau, 'tau')
    return (tau**2) * _kl_rows(_log_probs(logits_S, tau),
                               _log_probs(logits_T, tau))


def directed_kl_per_sample(logits_S: Tensor,
                           logits_T: Tensor,
                           tau: float,
                           direction: str = 'forward') -> Tensor:
    """:func:`kl_per_sample` (``'forward'``, ``KL(p_T ‖ p_S)``) or
    :func:`reverse_kl_per_sample` (``'reverse'``, ``KL(p_S ‖ p_T)``).

    Args:
        logits_S (Tensor): Student logits, shape ``(B, C)``.
        logits_T (Tensor): Target logits, shape ``(B, C)``.
        tau (float): Temperature ``τ``.
        direction (str): One of ``KL_DIRECTIONS``. Defaults to
            ``'forward'``.

    Returns:
        Tensor: Per-sample losses, shape ``(B,)``, ``float32``.
    """
    check_choice(direction, KL_DIRECTIONS, 'direction')
    kl = kl_per_sample if direction == 'forward' else reverse_kl_per_sample
    return kl(logits_S, logits_T, tau)


def weighted_kd(logits_S: Tensor,
                logits_T: Tensor,
                weight: Optional[Tensor],
                tau: float,
                reduction: str = 'mean',
                direction: str = 'forward') -> Tensor:
    r"""Confidence-weighted KD (UDSKD, arXiv 2511.18826).

    .. math::
        \mathcal{L}_{KD} = \frac{1}{B} \sum_i w_i \, \tau^2
            \mathrm{KL}\left(p^T_i \,\|\, p^S_i\right)

    for ``direction='forward'``; ``'reverse'`` uses
    :math:`\mathrm{KL}(p^S_i \| p^T_i)`, the paper's written form.

    Args:
        logits_S (Tensor): Student logits, shape ``(B, C)``.
        logits_T (Tensor): Teacher logits, shape ``(B, C)`` (not detached
            here).
        weight (Tensor, optional): Per-sample weights ``(B,)``; ``None``
            means all ones.
        tau (float): KD temperature ``τ``.
        reduction (str): ``'mean'`` (over the batch), ``'sum'`` or
            ``'none'`` (per-sample ``(B,)``). Defaults to ``'mean'``.
        direction (str): ``'forward'`` (``KL(p_T ‖ p_S)``) or
            ``'reverse'`` (``KL(p_S ‖ p_T)``). Defaults to ``'forward'``.

    Returns:
        Tensor: The loss (scalar, or ``(B,)`` for ``'none'``), ``float32``.
    """
    per_sample = directed_kl_per_sample(logits_S, logits_T, tau, direction)
    if weight is not None:
        weight = weight.float()
        if weight.shape != per_sample.shape:
            raise ValueError(f'`weight` must have shape '
                             f'{tuple(per_sample.shape)}, got '
                             f'{tuple(weight.shape)}')
        per_sample = weight * per_sample
    return reduce_per_sample(per_sample, reduction)


def peer_kl(logits_S: Tensor,
            logits_peer: Tensor,
            tau: float,
            detach: bool = True,
            reduction: str = 'mean',
            direction: str = 'forward') -> Tensor:
    r"""Peer (student ↔ student) KL term of UDSKD (arXiv 2511.18826).

    .. math::
        \mathcal{L}_{peer} = \frac{1}{B} \sum_i \tau^2
            \mathrm{KL}\left(p^{peer}_i \,\|\, p^S_i\right)

    for ``direction='forward'``; ``'reverse'`` uses
    :math:`\mathrm{KL}(p^S_i \| p^{peer}_i)`, the paper's written form.

    Args:
        logits_S (Tensor): Logits of the student being trained, ``(B, C)``.
        logits_peer (Tensor): Logits of its peer student, ``(B, C)``; the
            target distribution.
        tau (float): Temperature ``τ``.
        detach (bool): Stop the gradient into the peer. Defaults to True.
        reduction (str): ``'mean'`` (over the batch), ``'sum'`` or
            ``'none'``. Defaults to ``'mean'``.
        direction (str): ``'forward'`` (``KL(p_peer ‖ p_S)``) or
            ``'reverse'`` (``KL(p_S ‖ p_peer)``). Defaults to ``'forward'``.

    Returns:
        Tensor: The loss (scalar, or ``(B,)`` for ``'none'``), ``float32``.
    """
    if detach:
        logits_peer = logits_peer.detach()
    return reduce_per_sample(
        directed_kl_per_sample(logits_S, logits_peer, tau, direction),
        reduction)
