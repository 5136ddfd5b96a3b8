"""In-place updates of a teacher's weights that no optimizer owns: the EMA
step towards a student, and a plain SGD step."""
from typing import Iterable, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.dist import all_reduce, get_world_size

__all__ = ['ema_update_', 'sgd_step_']


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


@torch.no_grad()
def sgd_step_(params: Sequence[nn.Parameter],
              grads: Sequence[Optional[torch.Tensor]], lr: float,
              weight_decay: float = 0.0) -> None:
    """One SGD step without momentum, ``p -= lr * (g + wd * p)``, with the
    gradients averaged over the ranks first (a no-op in one process).

    Args:
        params (Sequence[nn.Parameter]): Parameters, updated in place.
        grads (Sequence[Tensor | None]): Their gradients (None: skipped).
        lr (float): Learning rate.
        weight_decay (float): L2 weight decay. Defaults to 0.
    """
    world_size = get_world_size()
    for p, g in zip(params, grads):
        if g is None:
            continue
        if world_size > 1:
            all_reduce(g, op='mean')
        if weight_decay:
            g = g.add(p, alpha=weight_decay)
        p.add_(g, alpha=-lr)
