"""The loss of every branch of DKEL: CE, distillation from the online
ensemble and from the other branches' decoupled teachers (Shao & Chen,
arXiv 2312.11218)."""
from collections import OrderedDict
from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from mmrazor.registry import MODELS
from torch import nn

from ...utils.validation import check_positive
from ..losses.dkel_functional import decoupled_peer_kd, soft_kd_loss
from ..losses.schedules import decay_weight, sigmoid_rampup

__all__ = ['DKELDistiller']


@MODELS.register_module()
class DKELDistiller(nn.Module):
    """Composes DKEL's loss of each branch from the logits of one batch.

    Loss of branch :math:`i` at epoch :math:`e`, with logits :math:`z_i`,
    teacher logits :math:`t_j`, the detached online ensemble
    :math:`\\bar z = \\frac{1}{N} \\sum_j z_j` and
    :math:`KD` = :func:`~..losses.dkel_functional.soft_kd_loss`:

    .. math::

        L_i = \\lambda_{ce} CE(z_i, y) + r_e \\lambda_{kd} KD(z_i, \\bar z)
            + r_e \\lambda_{peer} P_i(w_e)

    with :math:`P_i` = :func:`~..losses.dkel_functional.decoupled_peer_kd`,
    :math:`w_e` = :func:`~..losses.schedules.decay_weight` and :math:`r_e`
    = :func:`~..losses.schedules.sigmoid_rampup`. It runs no model.

    Args:
        branch_names (Sequence[str]): The branches, in config order.
        tau (float): Distillation temperature. Defaults to 3.0.
        loss_weights (Dict[str, float], optional): ``ce``, ``kd`` and
            ``peer``: :math:`\\lambda_{ce}`, :math:`\\lambda_{kd}`,
            :math:`\\lambda_{peer}`. Defaults to None (1.0 each; missing
            keys too).
        decay_k (float): Decay rate ``k`` of :math:`w_e`. Defaults to 0.5.
        decay_cutoff (float): :math:`w_e` below this becomes 0.
            Defaults to 0.01.
        rampup_epochs (float): Ramp-up length T in epochs; 0 switches the
            ramp-up off. Defaults to 0.
    """

    def __init__(self,
                 branch_names: Sequence[str],
                 tau: float = 3.0,
                 loss_weights: Optional[Dict[str, float]] = None,
                 decay_k: float = 0.5,
                 decay_cutoff: float = 0.01,
                 rampup_epochs: float = 0) -> None:
        super().__init__()
        self.branch_names = list(branch_names)
        self.tau = check_positive(tau, 'model.tau')
        weights = dict(dict(ce=1.0, kd=1.0, peer=1.0), **(loss_weights or {}))
        self.ce_weight = float(weights['ce'])
        self.kd_weight = float(weights['kd'])
        self.peer_weight = float(weights['peer'])
        self.decay_k = float(decay_k)
        self.decay_cutoff = float(decay_cutoff)
        self.rampup_epochs = float(rampup_epochs)

    def schedule(self, epoch: float) -> Dict[str, float]:
        """The epoch-dependent weights.

        Args:
            epoch (float): The 0-based epoch.

        Returns:
            Dict[str, float]: ``decay_weight`` (:math:`w_e`) and
            ``rampup_weight`` (:math:`r_e`).
        """
        return dict(
            decay_weight=decay_weight(epoch, self.decay_k, self.decay_cutoff),
            rampup_weight=sigmoid_rampup(epoch, self.rampup_epochs))

    def compute_losses(self, student_logits: Dict[str, torch.Tensor],
                       teacher_logits: Dict[str, torch.Tensor],
                       labels: torch.Tensor,
                       epoch: float) -> Dict[str, Dict[str, torch.Tensor]]:
        """DKEL's loss terms of every branch.

        Args:
            student_logits (Dict[str, Tensor]): Branch logits ``z_i``.
            teacher_logits (Dict[str, Tensor]): Teacher logits ``t_i``
                (used detached).
            labels (Tensor): Class indices, shape ``(N,)``.
            epoch (float): The 0-based epoch.

        Returns:
            Dict[str, Dict[str, Tensor]]: ``{branch: {'loss_ce': ..,
            'loss_kd': .., 'loss_peer': ..}}``, weights already applied.
        """
        sched = self.schedule(epoch)
        w_e, r_e = sched['decay_weight'], sched['rampup_weight']
        student_logits = {n: z.float() for n, z in student_logits.items()}
        teacher_logits = {n: t.float() for n, t in teacher_logits.items()}
        ensemble = torch.stack([student_logits[n].detach()
                                for n in self.branch_names]).mean(0)
        losses: Dict[str, Dict[str, torch.Tensor]] = OrderedDict()
        for name in self.branch_names:
            z = student_logits[name]
            others = [teacher_logits[n] for n in self.branch_names
                      if n != name]
            losses[name] = OrderedDict(
                loss_ce=self.ce_weight * F.cross_entropy(z, labels),
                loss_kd=r_e * self.kd_weight *
                soft_kd_loss(z, ensemble, self.tau),
                loss_peer=r_e * self.peer_weight *
                decoupled_peer_kd(z, others, w_e, self.tau))
        return losses
