"""Uncertainty (entropy) weighted teacher→student KD loss of UDSKD."""
from typing import Dict, Optional

import torch
import torch.nn as nn
from mmrazor.registry import MODELS
from torch import Tensor

from ...utils.validation import (check_choice, check_loss_weight,
                                check_positive)
from .functional import (KL_DIRECTIONS, LOSS_REDUCTIONS, WEIGHT_MODES,
                         confidence_weight, reduce_loss, teacher_entropy,
                         weighted_kd)

__all__ = ['EntropyWeightedKDLoss']


@MODELS.register_module()
class EntropyWeightedKDLoss(nn.Module):
    r"""Confidence-weighted Hinton KD (UDSKD, Gore, Dey, Mishra,
    arXiv 2511.18826).

    Each sample's temperature-scaled KL(teacher ‖ student) is scaled by a
    detached teacher-confidence weight:

    .. math::
        \mathcal{L} = \lambda \cdot \frac{1}{B} \sum_i w_i \, \tau^2
            \mathrm{KL}\left(\mathrm{softmax}(z^T_i/\tau) \,\|\,
            \mathrm{softmax}(z^S_i/\tau)\right), \qquad
        w_i = 1 - \frac{H(\mathrm{softmax}(z^T_i/\tau_H))}{\log C}

    so uncertain (high-entropy) teacher predictions are distilled less. That
    is the ``'forward'`` direction ``KL(p_T ‖ p_S)`` (Hinton's, the default,
    so the loss stays comparable with MMRazor's KD baseline);
    ``direction='reverse'`` uses ``KL(p_S ‖ p_T)``, the direction the paper
    writes (:math:`\mathrm{KL}(q_S \| p_T)`). Forward with
    ``weighting='none'`` is numerically MMRazor's ``KLDivergence``
    (for ``'batchmean'``, ``'mean'`` and ``'sum'``). Logits are handled in
    ``float32`` internally, the loss is ``float32``; the teacher is detached.

    After every :meth:`forward` the detached per-sample weight and entropy
    are kept in :attr:`last_weight` and :attr:`last_entropy`, and
    :meth:`stats` summarises them as scalar tensors for logging (no host
    sync happens in ``forward``).

    Args:
        tau (float): KD temperature ``τ``, > 0. Defaults to 4.0.
        loss_weight (float): Scale ``λ`` of the loss, finite and >= 0.
            Defaults to 1.0.
        reduction (str): ``'batchmean'`` (sum over classes, mean over the
            batch; the paper's form), ``'mean'`` (sum divided by ``B·C``,
            as ``KLDivergence``/``F.kl_div``), ``'sum'``, or ``'none'``
            (per-sample losses, shape ``(B,)``). Defaults to ``'batchmean'``.
        weighting (str): ``'entropy'`` (the paper's weight), ``'margin'``
            (top-1 minus top-2 teacher probability) or ``'none'`` (plain KD).
            Defaults to ``'entropy'``.
        entropy_tau (float): Temperature ``τ_H`` of the softmax whose
            entropy/margin gives the weight, > 0. Defaults to 1.0.
        direction (str): ``'forward'``, ``KL(teacher ‖ student)`` (Hinton,
            MMRazor's ``KLDivergence``), or ``'reverse'``,
            ``KL(student ‖ teacher)`` (as written in arXiv 2511.18826).
            Defaults to ``'forward'``.

    Attributes:
        last_weight (Tensor | None): ``(B,)`` weights of the last call.
        last_entropy (Tensor | None): ``(B,)`` teacher entropies at
            ``entropy_tau`` of the last call.
    """

    def __init__(self,
                 tau: float = 4.0,
                 loss_weight: float = 1.0,
                 reduction: str = 'batchmean',
                 weighting: str = 'entropy',
                 entropy_tau: float = 1.0,
                 direction: str = 'forward') -> None:
        super().__init__()
        check_positive(tau, 'tau')
        check_loss_weight(loss_weight, 'loss_weight')
        check_choice(reduction, LOSS_REDUCTIONS, 'reduction')
        check_choice(weighting, WEIGHT_MODES, 'weighting')
        check_positive(entropy_tau, 'entropy_tau')
        check_choice(direction, KL_DIRECTIONS, 'direction')
        self.tau = float(tau)
        self.loss_weight = float(loss_weight)
        self.reduction = reduction
        self.weighting = weighting
        self.entropy_tau = float(entropy_tau)
        self.direction = direction
        self.last_weight: Optional[Tensor] = None
        self.last_entropy: Optional[Tensor] = None
        self._last_stats: Dict[str, Tensor] = {}

    def forward(self, preds_S: Tensor, preds_T: Tensor) -> Tensor:
        """Compute the weighted KD loss.

        Args:
            preds_S (Tensor): Student logits, shape ``(B, C)``.
            preds_T (Tensor): Teacher logits, shape ``(B, C)``; detached.

        Returns:
            Tensor: ``float32`` loss; a scalar, or ``(B,)`` for
            ``reduction='none'``.
        """
        preds_T = preds_T.detach()
        weight = confidence_weight(preds_T, self.entropy_tau, self.weighting)
        per_sample = weighted_kd(preds_S, preds_T, weight, self.tau, 'none',
                                 self.direction)
        loss = reduce_loss(per_sample, self.reduction, preds_S.shape[1])
        self._record(preds_T, weight)
        return self.loss_weight * loss

    @torch.no_grad()
    def _record(self, preds_T: Tensor, weight: Tensor) -> None:
        """Keep detached per-sample statistics of the last batch."""
        entropy = teacher_entropy(preds_T, self.entropy_tau)
        self.last_weight = weight.detach()
        self.last_entropy = entropy
        entropy_t1 = (entropy if self.entropy_tau == 1.0 else
                      teacher_entropy(preds_T, 1.0))
        entropy_kd = (entropy if self.entropy_tau == self.tau else
                      teacher_entropy(preds_T, self.tau))
        self._last_stats = dict(
            weight_mean=weight.mean(),
            entropy_t1=entropy_t1.mean(),
            entropy_tau=entropy_kd.mean(),
            uncertain_ratio=(weight < 0.5).float().mean())

    def stats(self) -> Dict[str, Tensor]:
        """Batch means of the last forward's statistics.

        Returns:
            Dict[str, Tensor]: Detached scalar tensors ``weight_mean`` (mean
            ``w``), ``entropy_t1`` (mean teacher entropy at ``T = 1``),
            ``entropy_tau`` (at the KD temperature ``τ``) and
            ``uncertain_ratio`` (share of samples with ``w < 0.5``); empty
            before the first forward.
        """
        return dict(self._last_stats)
