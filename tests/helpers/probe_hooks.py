"""Hooks and a model that the reliability tests load into training
subprocesses (``custom_imports=['tests.helpers.probe_hooks']``)."""
import json
import os
import os.path as osp
import pickle
import re
import time
from typing import Any, Dict, List, Optional

import mmrazor_udskd  # noqa: F401  isort:skip  (before mmrazor)
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from mmrazor.registry import MODELS

from mmrazor_udskd.models.algorithms.multi_student_distill import \
    MultiStudentDistill
from mmrazor_udskd.models.utils import logits_of as _logits_of

__all__ = ['RankDumpHook', 'PauseAtIterHook', 'WeightsOnlyProbeHook',
           'MetricOverrideHook', 'StepRecordHook',
           'UnsyncedMultiStudentDistill']


def _algorithm(runner) -> MultiStudentDistill:
    model = runner.model
    return model.module if is_model_wrapper(model) else model


def _state(module: torch.nn.Module) -> Dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@HOOKS.register_module()
class RankDumpHook(Hook):
    """Saves, per rank, the students' and teacher's weights before and after
    training and the rank-local ``loss`` and every other scalar output of
    every iteration (registered first with priority HIGHEST, i.e. before
    ``SyncLogVarsHook``)."""

    priority = 'HIGHEST'

    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir
        self.losses: List[float] = []
        self.logs: List[Dict[str, float]] = []
        self.init: Optional[dict] = None

    def _snapshot(self, runner) -> dict:
        model = _algorithm(runner)
        return dict(students={n: _state(s) for n, s in
                              model.students.items()},
                    teacher=_state(model.teacher))

    def before_train(self, runner) -> None:
        self.init = self._snapshot(runner)

    def after_train_iter(self, runner, batch_idx: int, data_batch: Any = None,
                         outputs: Optional[dict] = None) -> None:
        self.losses.append(float(outputs['loss']))
        self.logs.append({k: float(v) for k, v in outputs.items()
                          if torch.as_tensor(v).numel() == 1})

    def after_train(self, runner) -> None:
        os.makedirs(self.out_dir, exist_ok=True)
        torch.save(dict(init=self.init, final=self._snapshot(runner),
                        losses=self.losses, logs=self.logs),
                   osp.join(self.out_dir, f'rank{get_rank()}.pth'))


@HOOKS.register_module()
class PauseAtIterHook(Hook):
    """After iteration ``pause_at`` (1-based) is logged, writes ``marker``
    and sleeps, so that the test can SIGKILL the process mid-epoch."""

    priority = 'LOWEST'

    def __init__(self, pause_at: int, marker: str) -> None:
        self.pause_at = pause_at
        self.marker = marker

    def after_train_iter(self, runner, batch_idx: int, data_batch: Any = None,
                         outputs: Optional[dict] = None) -> None:
        if runner.iter + 1 == self.pause_at:
            with open(self.marker, 'w') as f:
                f.write(str(runner.iter + 1))
            time.sleep(600)


@HOOKS.register_module()
class WeightsOnlyProbeHook(Hook):
    """Records, in the training process, whether weights-only loading is
    still the default (a hostile pickle is refused)."""

    def __init__(self, hostile: str, out: str) -> None:
        self.hostile = hostile
        self.out = out

    def before_train(self, runner) -> None:
        """Writes ``refused``: the global the refusal names (None if the
        pickle loaded); any other error (a missing file) stops the run."""
        try:
            torch.load(self.hostile)  # the default, as mmengine calls it
            refused = None
        except pickle.UnpicklingError as err:
            found = re.findall(r'GLOBAL ([\w.]+)', str(err))
            if 'Weights only load failed' not in str(err) or not found:
                raise
            refused = found[0]
        with open(self.out, 'w') as f:
            json.dump(dict(
                refused=refused, iter=runner.iter, epoch=runner.epoch), f)


@HOOKS.register_module()
class MetricOverrideHook(Hook):
    """Sets validation metric ``key`` to ``value`` from epoch ``from_epoch``
    (1-based) on, before ``CheckpointHook`` sees it (priority HIGH)."""

    priority = 'HIGH'

    def __init__(self, key: str, value: float, from_epoch: int) -> None:
        self.key = key
        self.value = value
        self.from_epoch = from_epoch

    def after_val_epoch(self, runner, metrics: Optional[dict] = None) -> None:
        if metrics is not None and runner.epoch >= self.from_epoch:
            metrics[self.key] = self.value


@HOOKS.register_module()
class StepRecordHook(Hook):
    """Saves what a test needs to recompute training iteration ``at``
    (1-based): the model's weights before it, its batch (images as one
    uint8 tensor, labels) and the scalars it logged."""

    priority = 'HIGHEST'

    def __init__(self, at: int, out: str) -> None:
        self.at = at
        self.out = out
        self.record: Dict[str, Any] = {}

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch: Any = None) -> None:
        if runner.iter + 1 == self.at:
            self.record = dict(
                state=_state(_algorithm(runner)),
                inputs=torch.stack(list(data_batch['inputs'])),
                labels=torch.tensor([int(s.gt_label) for s in
                                     data_batch['data_samples']]))

    def after_train_iter(self, runner, batch_idx: int, data_batch: Any = None,
                         outputs: Optional[dict] = None) -> None:
        if runner.iter + 1 == self.at:
            self.record['logged'] = {k: float(v) for k, v in outputs.items()}
            torch.save(self.record, self.out)


@MODELS.register_module()
class UnsyncedMultiStudentDistill(MultiStudentDistill):
    """Negative control: runs each student through ``.module``, bypassing
    its DDP wrapper, so gradients are NOT all-reduced across ranks."""

    def student_logits(self, name: str,
                       inputs: torch.Tensor) -> torch.Tensor:
        return _logits_of(self.students[name](inputs, mode='tensor'))
