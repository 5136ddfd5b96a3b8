"""How one UDSKD iteration runs its students: every graph at once
(``peer_mode='parallel'``) or one student's graph at a time
(``peer_mode='sequential'``), with the same losses and updates."""
from typing import Dict, List, Optional, Tuple, Union

import torch
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmpretrain.structures import DataSample
from torch import nn

from ...utils.finite_checks import check_finite_losses, check_logits
from ..utils import (ce_targets, kept_norm_stats, rng_state, runner_position,
                     set_rng_state)

__all__ = [
    'student_wrappers', 'ParallelPeerStep', 'SequentialPeerStep',
    'PEER_STEPS'
]

Logits = Dict[str, torch.Tensor]


def student_wrappers(optim_wrapper: Union[OptimWrapperDict, OptimWrapper],
                     names: List[str]) -> Dict[str, OptimWrapper]:
    """The optimizer wrapper of each student.

    Args:
        optim_wrapper (OptimWrapperDict | OptimWrapper): One wrapper per
            student name (``StudentOptimWrapperConstructor`` or
            ``SeparateOptimWrapperConstructor``), or one for all.
        names (List[str]): The student names.

    Returns:
        Dict[str, OptimWrapper]: Per name, its wrapper (the same one for
        all with a single wrapper).

    Raises:
        KeyError: If a student has no wrapper in an ``OptimWrapperDict``.
    """
    if not isinstance(optim_wrapper, OptimWrapperDict):
        return {name: optim_wrapper for name in names}
    missing = set(names) - set(optim_wrapper.keys())
    if missing:
        raise KeyError(f'optim_wrapper has no wrapper for students '
                       f'{sorted(missing)}; build one per student name with '
                       "constructor='mmrazor.StudentOptimWrapperConstructor'")
    return {name: optim_wrapper[name] for name in names}


class ParallelPeerStep:
    """``peer_mode='parallel'``: every student runs once, its graph kept
    until the updates, so a step holds all students' activations at once
    (fastest). Checkpointed students run first, so that their forwards'
    brief peaks do not come on top of another student's whole graph."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def forward(self, name: str, wrapper: OptimWrapper,
                inputs: torch.Tensor) -> torch.Tensor:
        """Student ``name``'s logits under its wrapper's context (AMP)."""
        with wrapper.optim_context(self.model._modules[name]):
            return self.model.student_logits(name, inputs)

    def check(self, teacher_logits: Optional[torch.Tensor],
              logits: Logits) -> Dict[str, Optional[int]]:
        """Stop on non-finite logits (one sync) when ``check_finite``.

        Returns:
            Dict[str, int | None]: The runner position for later messages.
        """
        if not self.model.check_finite:
            return {}
        where = runner_position()
        named = dict(logits)
        if teacher_logits is not None:
            named = dict(teacher=teacher_logits, **named)
        check_logits(named, **where)
        return where

    def student_loss(self, name: str, logits: Logits,
                     teacher_logits: torch.Tensor, targets: torch.Tensor,
                     where: Dict[str, Optional[int]],
                     log_vars: Logits) -> Tuple[torch.Tensor, Logits]:
        """``L_i`` of one student, checked and logged into ``log_vars``
        (``<name>.loss_ce/loss_teacher/loss_peer/loss``; no
        ``loss_teacher`` without a teacher).

        Returns:
            Tuple[Tensor, Dict[str, Tensor]]: ``L_i`` with its graph and the
            teacher loss's statistics.
        """
        terms, stats = self.model.distiller.student_losses(
            name, logits, teacher_logits, targets)
        # loss_ce + loss_teacher (absent without a teacher) + loss_peer
        loss = sum(terms.values())
        if self.model.check_finite:
            check_finite_losses({f'{name}.loss': loss}, **where)
        for key, value in terms.items():
            log_vars[f'{name}.{key}'] = value.detach()
        log_vars[f'{name}.loss'] = loss.detach()
        return loss, stats

    def __call__(self, inputs: torch.Tensor, data_samples: List[DataSample],
                 teacher_logits: torch.Tensor,
                 optim_wrapper: Union[OptimWrapperDict, OptimWrapper]
                 ) -> Logits:
        """Forward every student, then update each with its own loss (or
        all with ``sum_i L_i`` under a single wrapper).

        Args:
            inputs (Tensor): Preprocessed inputs (in the memory format).
            data_samples (List[DataSample]): Samples with labels.
            teacher_logits (Tensor): The teacher's logits of this batch.
            optim_wrapper (OptimWrapperDict | OptimWrapper): The wrappers.

        Returns:
            Dict[str, Tensor]: The log values of ``train_step``.
        """
        names = self.model.student_names
        wrappers = student_wrappers(optim_wrapper, names)
        logits = {name: self.forward(name, wrappers[name], inputs)
                  for name in self.model.forward_order}
        logits = {name: logits[name] for name in names}
        where = self.check(teacher_logits, logits)
        targets = ce_targets(data_samples)
        log_vars: Logits = {}
        stats: Logits = {}
        total = []
        separate = isinstance(optim_wrapper, OptimWrapperDict)
        for name in names:
            loss, own_stats = self.student_loss(name, logits, teacher_logits,
                                                targets, where, log_vars)
            if separate:
                wrappers[name].update_params(loss)
            total.append(loss)
            stats = stats or own_stats
        if not separate:
            optim_wrapper.update_params(sum(total))
        return self.finish(log_vars, [t.detach() for t in total], stats)

    @staticmethod
    def finish(log_vars: Logits, total: List[torch.Tensor],
               stats: Logits) -> Logits:
        """Add ``loss`` (sum over students) and ``stats.*`` to the log."""
        log_vars['loss'] = sum(total)
        log_vars.update({f'stats.{k}': v for k, v in stats.items()})
        return log_vars


class SequentialPeerStep(ParallelPeerStep):
    """``peer_mode='sequential'``: one student's graph alive at a time.

    The first student runs its forward with a graph; every other student
    runs one forward without a graph for its peer logits, with its
    BatchNorm running statistics restored afterwards and the random
    generator state saved; then the first student is updated, and each
    other student, the generator set back to its saved state, runs its
    forward again with a graph (the same logits, dropout masks and
    BatchNorm update as in ``'parallel'`` mode) and is updated. Every
    ``L_i`` sees its peers' logits under the pre-update weights: less memory
    for one extra forward per extra student. Needs one optimizer wrapper
    per student.
    """

    def __call__(self, inputs: torch.Tensor, data_samples: List[DataSample],
                 teacher_logits: torch.Tensor,
                 optim_wrapper: Union[OptimWrapperDict, OptimWrapper]
                 ) -> Logits:
        """See :meth:`ParallelPeerStep.__call__`."""
        if not isinstance(optim_wrapper, OptimWrapperDict):
            raise ValueError("`model.peer_mode`='sequential' needs one "
                             'optimizer wrapper per student '
                             '(StudentOptimWrapperConstructor)')
        first, *others = names = self.model.student_names
        wrappers = student_wrappers(optim_wrapper, names)
        logits = {first: self.forward(first, wrappers[first], inputs)}
        rng: Dict[str, Tuple[torch.Tensor, ...]] = {}
        for name in others:
            rng[name] = rng_state(inputs.device)
            with torch.no_grad(), kept_norm_stats(self.model._modules[name]):
                logits[name] = self.forward(name, wrappers[name], inputs)
        where = self.check(teacher_logits, logits)
        targets = ce_targets(data_samples)
        peers = {name: value.detach() for name, value in logits.items()}
        log_vars: Logits = {}
        stats: Logits = {}
        total = []
        for name in names:
            own = dict(peers)
            if name == first:
                own[name] = logits[name]
            else:
                set_rng_state(inputs.device, rng[name])
                own[name] = self.forward(name, wrappers[name], inputs)
            loss, own_stats = self.student_loss(name, own, teacher_logits,
                                                targets, where, log_vars)
            wrappers[name].update_params(loss)
            total.append(loss.detach())
            stats = stats or own_stats
        return self.finish(log_vars, total, stats)


#: ``model.peer_mode`` -> the step that implements it
PEER_STEPS = dict(parallel=ParallelPeerStep, sequential=SequentialPeerStep)
