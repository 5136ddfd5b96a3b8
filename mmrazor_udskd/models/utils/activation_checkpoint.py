"""Activation checkpointing that leaves BatchNorm statistics untouched.

``torch.utils.checkpoint`` drops a segment's activations after the forward
and runs the segment again in the backward to get them back. A BatchNorm
inside the segment then runs twice per step in training mode, so its
running mean and variance move twice and ``num_batches_tracked`` counts
two batches (what mmpretrain's ``with_cp=True`` does). Here the recomputed
forward runs with the segment's BatchNorm statistics saved before it and
written back after it, so a checkpointed network computes the same
outputs, gradients and running statistics as the plain one: activation
memory is traded for one extra forward of the segment and nothing else
changes.
"""
import contextlib
import fnmatch
import functools
from typing import (Any, Callable, Dict, Iterator, List, Optional,
                    Sequence, Tuple)

import torch
import torch.nn as nn
from mmengine.logging import print_log
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.checkpoint import checkpoint

__all__ = [
    'norm_stats', 'kept_norm_stats', 'checkpoint_submodules',
    'is_checkpointed', 'checkpoint_students'
]

#: attribute set on a module whose forward runs under checkpointing
_MARK = '_udskd_checkpointed_forward'


def norm_stats(module: nn.Module) -> List[torch.Tensor]:
    """The running-statistics buffers of every BatchNorm in ``module``.

    Args:
        module (nn.Module): A network or a part of one.

    Returns:
        List[Tensor]: ``running_mean``, ``running_var`` and
        ``num_batches_tracked`` of each tracking BatchNorm, in module order.
    """
    return [buf for m in module.modules()
            if isinstance(m, _BatchNorm) and m.track_running_stats
            for buf in (m.running_mean, m.running_var, m.num_batches_tracked)
            if buf is not None]


@contextlib.contextmanager
def kept_norm_stats(module: nn.Module) -> Iterator[None]:
    """Run a block of code and write ``module``'s BatchNorm running
    statistics back as they were before it (also when it raises, as the
    early-stopping recomputation of ``torch.utils.checkpoint`` does).

    Args:
        module (nn.Module): The module whose statistics are kept.
    """
    buffers = norm_stats(module)
    saved = [buf.clone() for buf in buffers]
    try:
        yield
    finally:
        with torch.no_grad():
            for buf, value in zip(buffers, saved):
                buf.copy_(value)


def _contexts(module: nn.Module
              ) -> Tuple[contextlib.AbstractContextManager,
                         contextlib.AbstractContextManager]:
    """``context_fn`` of :func:`torch.utils.checkpoint.checkpoint`: nothing
    around the first forward, kept statistics around the recomputation."""
    return contextlib.nullcontext(), kept_norm_stats(module)


def _checkpointed_forward(module: nn.Module, forward: Callable[..., Any],
                          *args: Any, **kwargs: Any) -> Any:
    """``module``'s forward, checkpointed while autograd records a graph.

    Args:
        module (nn.Module): The module.
        forward (Callable): Its original bound forward.
        *args (Any): Forward arguments.
        **kwargs (Any): Forward keyword arguments.

    Returns:
        Any: What ``forward`` returns.
    """
    if not (module.training and torch.is_grad_enabled()):
        # evaluation or a forward without a graph: nothing to drop
        return forward(*args, **kwargs)
    return checkpoint(forward, *args, use_reentrant=False,
                      context_fn=functools.partial(_contexts, module),
                      preserve_rng_state=True, **kwargs)


def is_checkpointed(module: nn.Module) -> bool:
    """Whether :func:`checkpoint_submodules` wrapped ``module``'s forward.

    Args:
        module (nn.Module): A module.

    Returns:
        bool: True when its forward runs under checkpointing.
    """
    return getattr(module, _MARK, False)


def checkpoint_submodules(model: nn.Module,
                          patterns: Sequence[str]) -> List[str]:
    """Checkpoint the activations of the submodules matching ``patterns``.

    Each matching submodule (``fnmatch`` on its name in
    ``model.named_modules()``, e.g. ``'backbone.conv1'`` or
    ``'backbone.layer[1-3].*'``) keeps only its inputs from the forward and
    recomputes the rest in the backward, with its BatchNorm running
    statistics kept (see :func:`kept_norm_stats`). A match inside an
    already matched submodule is skipped: the outer one is the segment.
    Parameter and buffer names are unchanged (the forward is replaced on
    the instance), so checkpoints load with or without it. In evaluation
    mode and without grad the forward is the plain one.

    Args:
        model (nn.Module): The network, e.g. one student.
        patterns (Sequence[str]): Submodule name patterns.

    Returns:
        List[str]: The names of the checkpointed submodules, in module
        order.

    Raises:
        ValueError: When a pattern is not a string or matches no submodule
            (a typo would otherwise silently cost the memory it meant to
            save).
    """
    if isinstance(patterns, str) or not all(
            isinstance(p, str) for p in patterns):
        raise ValueError('activation checkpoint patterns must be a list of '
                         f'submodule name patterns, got {patterns!r}')
    wrapped: List[str] = []
    used = {p: False for p in patterns}
    for name, module in model.named_modules():
        if not name:
            continue
        hits = [p for p in patterns if fnmatch.fnmatchcase(name, p)]
        if not hits:
            continue
        for p in hits:
            used[p] = True
        if any(name.startswith(outer + '.') for outer in wrapped):
            continue
        if not is_checkpointed(module):
            module.forward = functools.partial(_checkpointed_forward, module,
                                               module.forward)
            setattr(module, _MARK, True)
        wrapped.append(name)
    unused = [p for p, hit in used.items() if not hit]
    if unused:
        raise ValueError(f'activation checkpoint patterns {unused} match no '
                         f'submodule of {type(model).__name__}')
    return wrapped


def checkpoint_students(
        students: Dict[str, nn.Module],
        spec: Optional[Dict[str, List[str]]],
        field: str = 'model.activation_checkpoint') -> Dict[str, List[str]]:
    """Checkpoint the students' submodules named in ``spec``.

    Args:
        students (Dict[str, nn.Module]): The students by name.
        spec (Dict[str, List[str]], optional): Per student name, submodule
            name patterns (see :func:`checkpoint_submodules`).
        field (str): The config path of ``spec``, for messages. Defaults to
            ``'model.activation_checkpoint'``.

    Returns:
        Dict[str, List[str]]: Per student, the checkpointed submodules.

    Raises:
        ValueError: For an unknown student name or a pattern that matches
            nothing, naming the config field.
    """
    if not spec:
        return {}
    if not isinstance(spec, dict):
        raise ValueError(f'`{field}` must be a dict of submodule name '
                         f'patterns per student, got {type(spec).__name__}')
    done = {}
    for name, patterns in spec.items():
        if name not in students:
            raise ValueError(f'`{field}.{name}`: no student {name!r} '
                             f'(students: {list(students)})')
        try:
            done[name] = checkpoint_submodules(students[name], patterns)
        except ValueError as err:
            raise ValueError(f'`{field}.{name}`: {err}') from None
        print_log(f'activation checkpoint: student {name!r} recomputes '
                  f'{len(done[name])} submodules in the backward '
                  f'({done[name][0]} ... {done[name][-1]})',
                  logger='current')
    return done

