"""One validation pass that scores several models of one algorithm.

Used by the dual-student algorithm of Gore, Dey, Mishra (arXiv 2511.18826)
to score both students, their ensemble and the teacher on the same batches,
and by any other algorithm that follows the ``predict_all`` protocol below.
"""
import copy
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.evaluator import Evaluator
from mmengine.runner import ValLoop, autocast
from mmrazor.registry import LOOPS
from torch.utils.data import DataLoader

from ...models.utils import unwrap_model

__all__ = ['MultiModelValLoop']


@LOOPS.register_module()
class MultiModelValLoop(ValLoop):
    """Validate (or test) every model of a multi-model algorithm in ONE pass.

    **Protocol.** The (unwrapped) model must provide::

        predict_all(inputs: Tensor, data_samples: List[DataSample])
            -> Dict[str, List[DataSample]]

    taking the output of its ``data_preprocessor(data, False)`` and returning,
    for every model name (e.g. ``'r18'``, ``'mbv2'``, ``'ensemble'``,
    ``'teacher'``), one prediction per input sample, each a fresh
    ``DataSample`` carrying the ground truth and ``pred_score`` /
    ``pred_label``. The returned names must be the same for every batch.

    For every name an independent copy of the evaluator is built (lazily, from
    the first batch's keys) and its metrics are reported with the name as a
    prefix: ``r18/accuracy/top1``, ``ensemble/accuracy/top5``,
    ``teacher/accuracy/top1``. Runner hooks are called as in mmengine's
    ``ValLoop`` / ``TestLoop``, so e.g. ``CheckpointHook(save_best=
    'r18/accuracy/top1')`` works with any of the names. Under (separate)
    distributed data parallel the wrapped model's ``.module`` is used.

    As a test loop: ``test_cfg = dict(type='mmrazor.MultiModelValLoop',
    stage='test')`` (the runner passes the test dataloader and evaluator).

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): The dataloader or its config.
        evaluator (Evaluator | dict | list): The evaluator (config) copied for
            every model name.
        fp16 (bool): Run ``predict_all`` under autocast. Defaults to False.
        stage (str): ``'val'`` or ``'test'``: which runner hooks
            (``before_val_epoch`` ... or ``before_test_epoch`` ...) are
            called. Defaults to ``'val'``.
        outputs_from (str, optional): The name whose predictions are passed
            as ``outputs`` to the ``after_<stage>_iter`` hooks (e.g. for
            visualization). Defaults to None (the first name).
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 evaluator: Union[Evaluator, Dict, List],
                 fp16: bool = False,
                 stage: str = 'val',
                 outputs_from: Optional[str] = None) -> None:
        super().__init__(runner, dataloader, evaluator, fp16)
        if stage not in ('val', 'test'):
            raise ValueError(f"stage must be 'val' or 'test', got {stage!r}")
        self.stage = stage
        self.outputs_from = outputs_from
        # a pristine copy of the evaluator config (or object) to clone
        self._evaluator_template = copy.deepcopy(evaluator)
        self.evaluators: Dict[str, Evaluator] = {}

    @property
    def model(self) -> torch.nn.Module:
        """The runner's model, unwrapped from a DDP wrapper."""
        return unwrap_model(self.runner.model)

    def _build_evaluator(self) -> Evaluator:
        """A fresh evaluator for one model name."""
        template = copy.deepcopy(self._evaluator_template)
        if isinstance(template, (dict, list)):
            evaluator = self.runner.build_evaluator(template)
        else:
            evaluator = template
        dataset = self.dataloader.dataset
        if hasattr(dataset, 'metainfo'):
            evaluator.dataset_meta = dataset.metainfo
        return evaluator

    def run(self) -> dict:
        """Run one pass over the dataloader and score every model.

        Returns:
            dict: Metrics prefixed by model name, e.g. ``r18/accuracy/top1``.
        """
        stage = self.stage
        self.runner.call_hook(f'before_{stage}')
        self.runner.call_hook(f'before_{stage}_epoch')
        self.runner.model.eval()
        self.evaluators = {}
        for idx, data_batch in enumerate(self.dataloader):
            self.run_iter(idx, data_batch)

        metrics = {}
        size = len(self.dataloader.dataset)
        for name, evaluator in self.evaluators.items():
            for key, value in evaluator.evaluate(size).items():
                metrics[f'{name}/{key}'] = value
        self.runner.call_hook(f'after_{stage}_epoch', metrics=metrics)
        self.runner.call_hook(f'after_{stage}')
        return metrics

    @torch.no_grad()
    def run_iter(self, idx: int, data_batch: Sequence[dict]) -> None:
        """Predict one batch with every model and feed the evaluators.

        Args:
            idx (int): Batch index.
            data_batch (Sequence[dict]): The batch from the dataloader.
        """
        stage = self.stage
        self.runner.call_hook(
            f'before_{stage}_iter', batch_idx=idx, data_batch=data_batch)
        model = self.model
        if not hasattr(model, 'predict_all'):
            raise TypeError(
                f'{type(model).__name__} has no predict_all(inputs, '
                'data_samples) -> Dict[str, List[DataSample]], which '
                'MultiModelValLoop needs')
        with autocast(enabled=self.fp16):
            data = model.data_preprocessor(data_batch, False)
            predictions = model.predict_all(**data)
        if not self.evaluators:
            self.evaluators = {
                name: self._build_evaluator() for name in predictions
            }
        elif set(predictions) != set(self.evaluators):
            raise KeyError(
                f'predict_all returned models {sorted(predictions)} but the '
                f'first batch had {sorted(self.evaluators)}')
        for name, outputs in predictions.items():
            self.evaluators[name].process(
                data_samples=outputs, data_batch=data_batch)
        main = self.outputs_from or next(iter(predictions))
        self.runner.call_hook(
            f'after_{stage}_iter',
            batch_idx=idx,
            data_batch=data_batch,
            outputs=predictions[main])
