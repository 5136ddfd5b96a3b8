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
* Hinton KD (arXiv 1503.02531): :func:`kl_per_sample`.
* CKD (Zhu et al., arXiv 2404.14109): :func:`contrastive_logit_kd` (built on
  :func:`contrastive_logit_ce`).

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
    'teacher_entropy', 'confidence_weight', 'kl_per_sample', 'weighted_kd',
    'peer_kl', 'contrastive_logit_ce', 'contrastive_logit_kd',
    'reduce_per_sample', 'reduce_loss', 'WEIGHT_MODES',
    'SAMPLE_REDUCTIONS', 'LOSS_REDUCTIONS'
]

#: the confidence-weight modes accepted by :func:`confidence_weight`
WEIGHT_MODES = ('entropy', 'margin', 'none')
#: the reductions accepted by :func:`reduce_per_sample`
SAMPLE_REDUCTIONS = ('mean', 'sum', 'none')
#: the reductions accepted by :func:`reduce_loss` (and the loss classes)
LOSS_REDUCTIONS = ('batchmean', 'mean', 'sum', 'none')


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


def kl_per_sample(logits_S: Tensor, logits_T: Tensor, tau: float) -> Tensor:
    r"""Temperature-scaled KL(teacher ‖ student), summed over classes.

    .. math::
        \ell_i = \tau^2 \sum_c p^T_{ic}
            \left(\log p^T_{ic} - \log p^S_{ic}\right), \qquad
        p^{\{S,T\}}_i = \mathrm{softmax}(z^{\{S,T\}}_i / \tau)

    (Hinton et al., arXiv 1503.02531; the direction of MMRazor's
    ``KLDivergence``.) Classes where the teacher has zero probability add
    exactly ``0``, even where the student logit is ``-inf`` too. The teacher
    is **not** detached here; callers decide.

    Args:
        logits_S (Tensor): Student logits, shape ``(B, C)``.
        logits_T (Tensor): Teacher (target) logits, shape ``(B, C)``.
        tau (float): Temperature ``τ``.

    Returns:
        Tensor: Per-sample losses, shape ``(B,)``, ``float32``.
    """
    _check_pair(logits_S, logits_T)
    check_positive(tau, 'tau')
    log_p_T = _log_probs(logits_T, tau)
    log_p_S = _log_probs(logits_S, tau)
    p_T = log_p_T.exp()
    support = p_T > 0
    zeros = torch.zeros_like(log_p_T)
    # mask both logs outside the teacher's support before subtracting, so
    # (-inf) - (-inf) is never formed
    diff = (torch.where(support, log_p_T, zeros) -
            torch.where(support, log_p_S, zeros))
    return (tau**2) * (p_T * diff).sum(dim=1)


def weighted_kd(logits_S: Tensor,
                logits_T: Tensor,
                weight: Optional[Tensor],
                tau: float,
                reduction: str = 'mean') -> Tensor:
    r"""Confidence-weighted KD (UDSKD, arXiv 2511.18826).

    .. math::
        \mathcal{L}_{KD} = \frac{1}{B} \sum_i w_i \, \tau^2
            \mathrm{KL}\left(p^T_i \,\|\, p^S_i\right)

    Args:
        logits_S (Tensor): Student logits, shape ``(B, C)``.
        logits_T (Tensor): Teacher logits, shape ``(B, C)`` (not detached
            here).
        weight (Tensor, optional): Per-sample weights ``(B,)``; ``None``
            means all ones.
        tau (float): KD temperature ``τ``.
        reduction (str): ``'mean'`` (over the batch), ``'sum'`` or
            ``'none'`` (per-sample ``(B,)``). Defaults to ``'mean'``.

    Returns:
        Tensor: The loss (scalar, or ``(B,)`` for ``'none'``), ``float32``.
    """
    per_sample = kl_per_sample(logits_S, logits_T, tau)
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
            reduction: str = 'mean') -> Tensor:
    r"""Peer (student ↔ student) KL term of UDSKD (arXiv 2511.18826).

    .. math::
        \mathcal{L}_{peer} = \frac{1}{B} \sum_i \tau^2
            \mathrm{KL}\left(p^{peer}_i \,\|\, p^S_i\right)

    Args:
        logits_S (Tensor): Logits of the student being trained, ``(B, C)``.
        logits_peer (Tensor): Logits of its peer student, ``(B, C)``; the
            target distribution.
        tau (float): Temperature ``τ``.
        detach (bool): Stop the gradient into the peer. Defaults to True.
        reduction (str): ``'mean'`` (over the batch), ``'sum'`` or
            ``'none'``. Defaults to ``'mean'``.

    Returns:
        Tensor: The loss (scalar, or ``(B,)`` for ``'none'``), ``float32``.
    """
    if detach:
        logits_peer = logits_peer.detach()
    return reduce_per_sample(kl_per_sample(logits_S, logits_peer, tau),
                             reduction)


def contrastive_logit_ce(anchors: Tensor, candidates: Tensor,
                         positives: Tensor, temperature: float) -> Tensor:
    r"""Cross-entropy of cosine similarities between logit vectors.

    Row ``i`` of ``anchors`` is scored against every row of ``candidates``
    (both L2-normalised per sample); ``positives[i]`` indexes its positive:

    .. math::
        \ell_i = -\log \frac{\exp(\hat a_i^\top \hat c_{\pi(i)} / T)}
            {\sum_j \exp(\hat a_i^\top \hat c_j / T)}

    The building block of :func:`contrastive_logit_kd`; also used with
    candidates gathered from several ranks. Gradients flow into whichever
    inputs require them (callers detach the teacher).

    Args:
        anchors (Tensor): ``(N, C)`` logits, the rows.
        candidates (Tensor): ``(M, C)`` logits, the columns.
        positives (Tensor): ``(N,)`` long indices into ``candidates``.
        temperature (float): Softmax temperature ``T`` of the similarities.

    Returns:
        Tensor: Per-row losses, shape ``(N,)``, ``float32``.
    """
    check_positive(temperature, 'temperature')
    a_hat = _l2_normalize(anchors)
    c_hat = _l2_normalize(candidates)
    sim = a_hat @ c_hat.t() / temperature
    return F.cross_entropy(sim, positives, reduction='none')


def _l2_normalize(logits: Tensor) -> Tensor:
    """Per-row L2 normalisation in ``float32``.

    Rows are first divided by their max-abs value (the result is
    scale-invariant anyway), so huge logits cannot overflow the squared norm;
    all-zero rows stay zero.
    """
    x = logits.float()
    scale = x.detach().abs().amax(dim=1, keepdim=True)
    x = x / torch.where(scale > 0, scale, torch.ones_like(scale))
    return F.normalize(x, p=2.0, dim=1, eps=1e-12)


def contrastive_logit_kd(logits_S: Tensor,
                         logits_T: Tensor,
                         temperature: float = 1.0,
                         symmetric: bool = False) -> Tensor:
    r"""Sample-wise contrastive logit distillation (CKD, arXiv 2404.14109).

    With :math:`\hat t_i = z^T_i / \|z^T_i\|_2` and
    :math:`\hat s_j = z^S_j / \|z^S_j\|_2`, the ``B×B`` similarity matrix is
    :math:`S_{ij} = \hat t_i^\top \hat s_j / T` and

    .. math::
        \mathcal{L}_{t \to s} = \frac{1}{B} \sum_i
            -\log \frac{\exp S_{ii}}{\sum_j \exp S_{ij}}

    i.e. each teacher row must pick its own sample among the student columns
    (positive on the diagonal, the other samples of the batch as negatives).
    ``symmetric=True`` also scores each student row against the teacher
    columns (:math:`S^\top`) and returns the average of the two directions.
    The teacher is detached. The loss is invariant to a positive per-sample
    rescaling of either side's logits.

    A batch of one has no negatives, so the loss is exactly ``0``; it is still
    connected to ``logits_S``'s graph, so ``backward()`` works (zero
    gradient).

    Args:
        logits_S (Tensor): Student logits, shape ``(B, C)``; must be finite.
        logits_T (Tensor): Teacher logits, shape ``(B, C)``; must be finite.
        temperature (float): Temperature ``T`` of the cosine similarities.
            Defaults to 1.0.
        symmetric (bool): Average the teacher→student and student→teacher
            directions. Defaults to False.

    Returns:
        Tensor: A scalar ``float32`` loss.
    """
    _check_pair(logits_S, logits_T)
    check_positive(temperature, 'temperature')
    logits_T = logits_T.detach()
    batch = logits_S.shape[0]
    if batch < 2:
        return _l2_normalize(logits_S).sum() * 0.0
    positives = torch.arange(batch, device=logits_S.device)
    loss = contrastive_logit_ce(logits_T, logits_S, positives,
                                temperature).mean()
    if symmetric:
        loss_s2t = contrastive_logit_ce(logits_S, logits_T, positives,
                                        temperature).mean()
        loss = 0.5 * (loss + loss_s2t)
    return loss
