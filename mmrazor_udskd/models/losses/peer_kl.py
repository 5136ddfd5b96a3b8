"""Student↔student (peer) KL loss of UDSKD."""
from typing import Sequence, Union

import torch
import torch.nn as nn
from mmrazor.registry import MODELS
from torch import Tensor

from ...utils.validation import (check_choice, check_loss_weight,
                                check_positive)
from .functional import KL_DIRECTIONS, LOSS_REDUCTIONS, peer_kl, reduce_loss

__all__ = ['PeerKLLoss']


@MODELS.register_module()
class PeerKLLoss(nn.Module):
    r"""Peer-learning KL between students (UDSKD, arXiv 2511.18826).

    The student is pulled towards each peer's tempered distribution:

    .. math::
        \mathcal{L} = \lambda \cdot \frac{1}{K} \sum_{k=1}^{K}
            \frac{1}{B} \sum_i \tau^2 \mathrm{KL}\left(
            \mathrm{softmax}(z^{(k)}_i/\tau) \,\|\,
            \mathrm{softmax}(z^S_i/\tau)\right)

    for ``K`` peers (one tensor or a list/tuple of tensors). That is the
    ``'forward'`` direction ``KL(p_peer ‖ p_S)`` (the default, as Hinton's
    KD); ``direction='reverse'`` uses ``KL(p_S ‖ p_peer)``, the direction the
    paper writes (:math:`\mathrm{KL}(q_{S_i} \| q_{S_j})`). Computed in
    ``float32``; the loss is ``float32``.

    Args:
        tau (float): Temperature ``τ``, > 0. Defaults to 4.0.
        loss_weight (float): Scale ``λ``, finite and >= 0. Defaults to 1.0.
        peer_detach (bool): Stop the gradient into the peer(s), so each
            student is only updated by its own loss. Defaults to True.
        reduction (str): ``'batchmean'`` (sum over classes, mean over the
            batch), ``'mean'`` (sum divided by ``B·C``, as MMRazor's
            ``KLDivergence``), ``'sum'`` or ``'none'`` (``(B,)``).
            Defaults to ``'batchmean'``.
        direction (str): ``'forward'``, ``KL(peer ‖ student)``, or
            ``'reverse'``, ``KL(student ‖ peer)`` (as written in
            arXiv 2511.18826). Defaults to ``'forward'``.
    """

    def __init__(self,
                 tau: float = 4.0,
                 loss_weight: float = 1.0,
                 peer_detach: bool = True,
                 reduction: str = 'batchmean',
                 direction: str = 'forward') -> None:
        super().__init__()
        check_positive(tau, 'tau')
        check_loss_weight(loss_weight, 'loss_weight')
        check_choice(reduction, LOSS_REDUCTIONS, 'reduction')
        check_choice(direction, KL_DIRECTIONS, 'direction')
        if not isinstance(peer_detach, bool):
            raise ValueError('`peer_detach` must be a bool, got '
                             f'{peer_detach!r}')
        self.tau = float(tau)
        self.loss_weight = float(loss_weight)
        self.peer_detach = peer_detach
        self.reduction = reduction
        self.direction = direction

    def forward(self, preds_S: Tensor,
                preds_peer: Union[Tensor, Sequence[Tensor]]) -> Tensor:
        """Compute the peer KL loss.

        Args:
            preds_S (Tensor): Logits of the student being trained, ``(B, C)``.
            preds_peer (Tensor | Sequence[Tensor]): One peer's logits
                ``(B, C)``, or a list/tuple of them (averaged over peers).

        Returns:
            Tensor: ``float32`` loss; a scalar, or ``(B,)`` for
            ``reduction='none'``.
        """
        peers = [preds_peer] if isinstance(preds_peer, Tensor) else list(
            preds_peer)
        if len(peers) == 0:
            raise ValueError('`preds_peer` must hold at least one tensor')
        per_sample = torch.stack([
            peer_kl(preds_S, peer, self.tau, self.peer_detach, 'none',
                    self.direction)
            for peer in peers
        ]).mean(dim=0)
        loss = reduce_loss(per_sample, self.reduction, preds_S.shape[1])
        return self.loss_weight * loss
