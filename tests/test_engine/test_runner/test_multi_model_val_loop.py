"""MultiModelValLoop: one pass, one evaluator per model, prefixed metrics."""
from types import SimpleNamespace
from typing import List

import mmrazor_udskd  # noqa: F401  isort:skip  (before mmrazor)
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.evaluator import Evaluator
from mmengine.model import BaseModel
from mmrazor.registry import LOOPS
from torch.utils.data import DataLoader, Dataset

from ...helpers.udskd_tiny import NUM_CLASSES, build_algorithm, make_batch


class _ListDataset(Dataset):
    """Samples as a dataloader yields them, with mmengine-style metainfo."""
    metainfo = dict(classes=tuple(f'c{i}' for i in range(NUM_CLASSES)))

    def __init__(self, n: int) -> None:
        batch = make_batch(n, seed=3)
        self.items = [dict(inputs=i, data_samples=s) for i, s in
                      zip(batch['inputs'], batch['data_samples'])]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, idx: int) -> dict:
        return self.items[idx]


class _Runner:
    """Just what the loop uses from mmengine's Runner; records hook calls."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.hooks: List[tuple] = []
        self.visualizer = SimpleNamespace(dataset_meta=None)

    def build_evaluator(self, cfg) -> Evaluator:
        return Evaluator(cfg)

    def call_hook(self, name: str, **kwargs) -> None:
        self.hooks.append((name, kwargs))


def _build_loop(runner, n=10, batch_size=4, **kwargs):
    loader = DataLoader(_ListDataset(n), batch_size=batch_size,
                        collate_fn=pseudo_collate)
    return LOOPS.build(
        dict(type='MultiModelValLoop', **kwargs),
        default_args=dict(runner=runner, dataloader=loader,
                          evaluator=dict(type='mmpretrain.Accuracy',
                                         topk=(1, 2))))


def _expected_top1(model, n=10) -> dict:
    """Top-1 of every model computed directly from the logits."""
    batch = make_batch(n, seed=3)
    with torch.no_grad():
        data = model.data_preprocessor(batch, False)
        labels = torch.cat([s.gt_label for s in data['data_samples']])
        probs = {name: m(data['inputs'], mode='tensor').softmax(1)
                 for name, m in model.students.items()}
        probs['ensemble'] = torch.stack(list(probs.values())).mean(0)
        probs['teacher'] = model.teacher(data['inputs'],
                                         mode='tensor').softmax(1)
    return {name: (p.argmax(1) == labels).float().mean().item() * 100
            for name, p in probs.items()}


def test_val_loop_one_pass_prefixed_metrics():
    model = build_algorithm()
    runner = _Runner(model)
    loop = _build_loop(runner)
    calls = {'n': 0}
    original = model.predict_all

    def counting(*args, **kwargs):
        calls['n'] += 1
        return original(*args, **kwargs)

    model.predict_all = counting
    metrics = loop.run()
    assert calls['n'] == 3  # ONE pass over 10 samples in batches of 4
    expected = _expected_top1(model)
    for name in ('r18', 'mbv2', 'ensemble', 'teacher'):
        assert metrics[f'{name}/accuracy/top1'] == pytest.approx(
            expected[name], abs=1e-4)
        assert f'{name}/accuracy/top2' in metrics
    assert len(metrics) == 8

    names = [h[0] for h in runner.hooks]
    assert names == ['before_val', 'before_val_epoch'] + \
        ['before_val_iter', 'after_val_iter'] * 3 + \
        ['after_val_epoch', 'after_val']
    assert runner.hooks[-2][1]['metrics'] == metrics
    after_iter = runner.hooks[3][1]
    assert len(after_iter['outputs']) == 4  # the first model's predictions
    assert not model.training

    # a second run starts from fresh evaluators (no accumulation)
    assert loop.run() == metrics


def test_val_loop_as_test_loop_and_outputs_from():
    model = build_algorithm()
    model.val_teacher = False
    runner = _Runner(model)
    loop = _build_loop(runner, stage='test', outputs_from='ensemble')
    metrics = loop.run()
    assert set(metrics) == {f'{n}/accuracy/top{k}' for n in
                            ('r18', 'mbv2', 'ensemble') for k in (1, 2)}
    names = [h[0] for h in runner.hooks]
    assert names[:2] == ['before_test', 'before_test_epoch']
    assert names[-2:] == ['after_test_epoch', 'after_test']
    assert 'after_val_iter' not in names
    outputs = [h[1]['outputs'] for h in runner.hooks
               if h[0] == 'after_test_iter'][0]
    with torch.no_grad():
        data = model.data_preprocessor(make_batch(10, seed=3), False)
        ens = model.predict_all(**data)['ensemble']
    torch.testing.assert_close(outputs[0].pred_score, ens[0].pred_score)


def test_val_loop_unwraps_model_wrapper_and_checks_protocol():
    model = build_algorithm()

    class _Wrapper(torch.nn.Module):
        """Stands in for (MMSeparate)DistributedDataParallel."""

        def __init__(self, module):
            super().__init__()
            self.module = module

    from mmengine.registry import MODEL_WRAPPERS
    MODEL_WRAPPERS.register_module(name='_UDSKDTestWrapper',
                                   module=_Wrapper, force=True)
    runner = _Runner(_Wrapper(model))
    metrics = _build_loop(runner).run()
    assert 'mbv2/accuracy/top1' in metrics

    class _Plain(BaseModel):

        def forward(self, inputs, data_samples=None, mode='tensor'):
            return inputs

    with pytest.raises(TypeError, match='predict_all'):
        _build_loop(_Runner(_Plain())).run()

    with pytest.raises(ValueError, match='stage'):
        _build_loop(_Runner(model), stage='train')
