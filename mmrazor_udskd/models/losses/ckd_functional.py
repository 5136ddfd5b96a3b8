"""Pure functions of CKD, sample-wise contrastive logit distillation (Zhu
et al., arXiv 2404.14109): :func:`contrastive_logit_kd`, built on
:func:`contrastive_logit_ce`. Inputs are ``(B, C)`` logits, computed in
``float32``, as in :mod:`.functional`."""
import torch
import torch.nn.functional as F
from torch import Tensor

from ...utils.validation import check_positive
from .functional import _check_pair

__all__ = ['contrastive_logit_ce', 'contrastive_logit_kd']


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
