"""Sample-wise contrastive logit distillation (CKD) loss."""
from typing import Any, List, Tuple

import torch
import torch.distributed as dist
import torch.nn as nn
from mmrazor.registry import MODELS
from torch import Tensor

from ...utils.validation import check_loss_weight, check_positive
from .ckd_functional import (_l2_normalize, contrastive_logit_ce,
                             contrastive_logit_kd)
from .functional import _check_logits

__all__ = ['ContrastiveLogitKDLoss']


def _dist_world() -> Tuple[int, int]:
    """``(rank, world_size)`` of the default group; ``(0, 1)`` if none."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _padded_all_gather(x: Tensor, sizes: List[int]) -> Tensor:
    """All-gather ``(n_r, C)`` blocks of possibly unequal ``n_r`` (padded to
    the largest) and concatenate the valid rows in rank order."""
    max_rows = max(sizes)
    x = x.contiguous()
    if x.shape[0] < max_rows:
        pad = x.new_zeros((max_rows - x.shape[0], ) + tuple(x.shape[1:]))
        x = torch.cat([x, pad], dim=0)
    blocks = [torch.empty_like(x) for _ in sizes]
    dist.all_gather(blocks, x)
    return torch.cat([b[:n] for b, n in zip(blocks, sizes)], dim=0)


class _GatherRows(torch.autograd.Function):
    """Differentiable all-gather along dim 0 (unequal batches allowed).

    Backward all-reduces (sums) the gradient of the gathered tensor, so each
    rank receives the gradient that *every* rank's loss sends to its own rows,
    and returns its slice. Every rank must run backward (true under DDP).
    Written here instead of ``torch.distributed.nn.functional.all_gather``,
    which is deprecated and needs equal shapes.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, sizes: List[int],
                rank: int) -> Tensor:  # type: ignore[override]
        ctx.sizes = sizes
        ctx.rank = rank
        return _padded_all_gather(x, sizes)

    @staticmethod
    def backward(ctx: Any,
                 grad: Tensor) -> Tuple[Tensor, None, None]:  # type: ignore
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = sum(ctx.sizes[:ctx.rank])
        return grad[start:start + ctx.sizes[ctx.rank]], None, None


def _gather_rows(x: Tensor, rank: int, world: int,
                 differentiable: bool) -> Tuple[Tensor, int]:
    """All-gather ``x`` over ranks; return it and this rank's row offset."""
    local = torch.tensor([x.shape[0]], device=x.device, dtype=torch.long)
    all_sizes = [torch.zeros_like(local) for _ in range(world)]
    dist.all_gather(all_sizes, local)
    sizes = [int(s) for s in torch.cat(all_sizes).tolist()]
    offset = sum(sizes[:rank])
    if differentiable:
        return _GatherRows.apply(x, sizes, rank), offset
    with torch.no_grad():
        return _padded_all_gather(x.detach(), sizes), offset


@MODELS.register_module()
class ContrastiveLogitKDLoss(nn.Module):
    r"""Sample-wise contrastive logit KD (CKD, Zhu et al., arXiv 2404.14109).

    Teacher and student logits are L2-normalised per sample; the cosine
    similarity matrix :math:`S_{ij} = \hat t_i^\top \hat s_j / T` is trained
    with a cross-entropy whose positive for teacher row ``i`` is student
    column ``i`` (the same image) and whose negatives are the other samples:

    .. math::
        \mathcal{L} = \lambda \cdot \frac{1}{B} \sum_i
            -\log \frac{\exp S_{ii}}{\sum_j \exp S_{ij}}

    ``symmetric=True`` averages it with the student→teacher direction
    (:math:`S^\top`). See :func:`contrastive_logit_kd`; the teacher is
    detached, the loss is ``float32`` and a batch of one gives exactly 0.

    Released settings of the CKD authors (temperature / loss weight): 1.0 /
    100 for most CIFAR-100 teacher→student pairs; 2.0 / 50 for
    vgg13→MobileNetV2 and wrn40_2→wrn40_1; 1.0 / 10 for resnet56→resnet20
    and for ImageNet.

    Distributed training: by default (``gather_negatives=False``) each rank
    contrasts its own samples only (``B_local - 1`` negatives per row), which
    depends on the per-GPU batch size. With ``gather_negatives=True`` the
    rows of every rank are all-gathered: the gradient-carrying side of each
    direction (the student *columns* in teacher→student, i.e. the negatives
    the student is pushed away from) goes through a differentiable
    all-gather whose backward sums the gradients of all ranks' losses into
    the owner's rows; the teacher side is gathered detached. Each rank then
    averages over its *local* rows only, so with equal per-rank batches the
    mean of the ranks' losses (what DDP's gradient averaging optimises)
    equals the single-process loss on the concatenated batch. Every rank
    must call forward and backward. Without an initialised process group (or
    with one rank) both settings are identical.

    Args:
        temperature (float): Temperature ``T`` of the similarities, > 0.
            Defaults to 1.0.
        loss_weight (float): Scale ``λ``, finite and >= 0. Defaults to 1.0.
        symmetric (bool): Also score student rows against teacher columns
            and average both directions. Defaults to False.
        gather_negatives (bool): Use all ranks' samples as negatives (see
            above). Defaults to False.
    """

    def __init__(self,
                 temperature: float = 1.0,
                 loss_weight: float = 1.0,
                 symmetric: bool = False,
                 gather_negatives: bool = False) -> None:
        super().__init__()
        check_positive(temperature, 'temperature')
        check_loss_weight(loss_weight, 'loss_weight')
        for name, value in (('symmetric', symmetric),
                            ('gather_negatives', gather_negatives)):
            if not isinstance(value, bool):
                raise ValueError(f'`{name}` must be a bool, got {value!r}')
        self.temperature = float(temperature)
        self.loss_weight = float(loss_weight)
        self.symmetric = symmetric
        self.gather_negatives = gather_negatives

    def forward(self, preds_S: Tensor, preds_T: Tensor) -> Tensor:
        """Compute the CKD loss.

        Args:
            preds_S (Tensor): Student logits, shape ``(B, C)``, finite.
            preds_T (Tensor): Teacher logits, shape ``(B, C)``, finite;
                detached.

        Returns:
            Tensor: A scalar ``float32`` loss.
        """
        rank, world = _dist_world()
        if not self.gather_negatives or world == 1:
            return self.loss_weight * contrastive_logit_kd(
                preds_S, preds_T, self.temperature, self.symmetric)
        return self.loss_weight * self._gathered(preds_S, preds_T, rank,
                                                 world)

    def _gathered(self, preds_S: Tensor, preds_T: Tensor, rank: int,
                  world: int) -> Tensor:
        """CKD with every rank's samples as candidates (see class doc)."""
        _check_logits(preds_S, 'preds_S')
        _check_logits(preds_T, 'preds_T')
        if preds_S.shape != preds_T.shape:
            raise ValueError(f'preds_S {tuple(preds_S.shape)} and preds_T '
                             f'{tuple(preds_T.shape)} must have the same '
                             'shape')
        s_local = preds_S.float()
        t_local = preds_T.detach().float()
        s_all, offset = _gather_rows(s_local, rank, world, True)
        t_all, _ = _gather_rows(t_local, rank, world, False)
        if s_all.shape[0] < 2 or s_local.shape[0] == 0:
            # no negatives anywhere / no local rows: 0, graph kept so the
            # collective in backward still runs on every rank
            return _l2_normalize(s_all).sum() * 0.0
        positives = torch.arange(
            s_local.shape[0], device=s_local.device) + offset
        loss = contrastive_logit_ce(t_local, s_all, positives,
                                    self.temperature).mean()
        if self.symmetric:
            loss_s2t = contrastive_logit_ce(s_local, t_all, positives,
                                            self.temperature).mean()
            loss = 0.5 * (loss + loss_s2t)
        return loss
