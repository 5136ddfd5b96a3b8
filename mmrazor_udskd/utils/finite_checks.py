"""Finite checks of a training step: logits and losses, one host sync each,
raised before any weights are updated."""
import math
from typing import Mapping, Optional

import torch
from torch import Tensor

__all__ = ['check_logits', 'check_finite_losses']


def _where(iteration: Optional[int], epoch: Optional[int]) -> str:
    if iteration is None:
        return 'at an unknown iteration'
    text = f'at iteration {iteration}'
    return text + (f' (epoch {epoch})' if epoch is not None else '')


def check_logits(logits: Mapping[str, Tensor],
                 iteration: Optional[int] = None,
                 epoch: Optional[int] = None) -> None:
    """All models' logits of a batch have one shape and are finite.

    One host synchronisation for all models together.

    Args:
        logits (Mapping[str, Tensor]): Per model name (``'teacher'`` or a
            student name), its ``(B, C)`` logits.
        iteration (int, optional): 1-based training iteration, for the
            message. Defaults to None.
        epoch (int, optional): 1-based epoch, for the message. Defaults to
            None.

    Raises:
        ValueError: If the shapes differ (the models disagree on the
            classes).
        FloatingPointError: Naming each model with NaN/inf logits.
    """
    shapes = {k: tuple(v.shape) for k, v in logits.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError('teacher and students output logits of different '
                         f'shapes {shapes}; they must predict the same '
                         'classes')
    names = list(logits)
    finite = torch.stack([torch.isfinite(logits[k]).all()
                          for k in names]).tolist()
    bad = [k for k, ok in zip(names, finite) if not ok]
    if bad:
        detail = ', '.join(
            f'{"the teacher" if k == "teacher" else "student " + repr(k)} '
            f'({int((~torch.isfinite(logits[k])).sum())} of '
            f'{logits[k].numel()} values NaN/inf)' for k in bad)
        raise FloatingPointError(
            f'non-finite logits {_where(iteration, epoch)} from {detail}; '
            'stopping before any weights are updated or checkpointed. Lower '
            'the learning rate, check the inputs, or resume from the last '
            'checkpoint')


def check_finite_losses(losses: Mapping[str, Tensor],
                        iteration: Optional[int] = None,
                        epoch: Optional[int] = None) -> None:
    """All loss values are finite (one host synchronisation).

    Args:
        losses (Mapping[str, Tensor]): Loss name (``'<student>.loss'``) to a
            scalar tensor.
        iteration (int, optional): 1-based iteration. Defaults to None.
        epoch (int, optional): 1-based epoch. Defaults to None.

    Raises:
        FloatingPointError: Naming the non-finite losses.
    """
    names = list(losses)
    if not names:
        return
    values = torch.stack([losses[k].detach().float().reshape(())
                          for k in names]).tolist()
    bad = [f'{k}={v}' for k, v in zip(names, values) if not math.isfinite(v)]
    if bad:
        raise FloatingPointError(
            f'non-finite loss {_where(iteration, epoch)}: {", ".join(bad)}; '
            'stopping before any weights are updated or checkpointed')
