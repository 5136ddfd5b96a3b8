"""Loss-weight schedules of UDSKD (alpha, beta, gamma over epochs or
iterations) and the LossWeightScheduleHook that applies them."""
import copy
import glob
import json
import math
import os.path as osp
from types import SimpleNamespace

import mmrazor_udskd  # noqa: F401  isort:skip  (compat patches first)
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.registry import HOOKS

from mmrazor_udskd.engine.hooks import LossWeightScheduleHook
from mmrazor_udskd.models.losses.schedules import (constant_weight,
                                                   cosine_weight,
                                                   linear_weight, step_weight)

from ..helpers.udskd_tiny import (NUM_CLASSES, algorithm_cfg,
                                  build_algorithm, make_batch,
                                  separate_optim)


def test_schedule_values_by_hand():
    assert constant_weight(7, 0.3) == 0.3
    # linear 0 -> 0.2 over epochs 0..10
    assert [linear_weight(t, 0.0, 0.2, 0, 10) for t in (-1, 0, 5, 10, 12)] \
        == pytest.approx([0.0, 0.0, 0.1, 0.2, 0.2])
    # starting later, decreasing: 0.4 until t=2, 0.1 from t=6, 0.25 at t=4
    assert [linear_weight(t, 0.4, 0.1, 2, 6) for t in (0, 2, 3, 4, 6, 9)] \
        == pytest.approx([0.4, 0.4, 0.325, 0.25, 0.1, 0.1])
    # half-cosine: (1 - cos(pi u)) / 2 = 0, 0.1464.., 0.5, 0.8535.., 1
    ramp = [cosine_weight(t, 0.0, 1.0, 0, 4) for t in range(6)]
    assert ramp == pytest.approx([0.0, (1 - math.sqrt(0.5)) / 2, 0.5,
                                  (1 + math.sqrt(0.5)) / 2, 1.0, 1.0])
    assert cosine_weight(3, 0.2, 0.0, 1, 5) == pytest.approx(0.1)
    # steps: value k once k milestones are reached
    assert [step_weight(t, [10, 20], [0.0, 0.1, 0.2])
            for t in (0, 9, 10, 19, 20, 100)] == [0.0, 0.0, 0.1, 0.1, 0.2,
                                                  0.2]
    with pytest.raises(ValueError, match='end_at'):
        linear_weight(0, 0.0, 1.0, 5, 5)
    with pytest.raises(ValueError, match='increase'):
        step_weight(0, [5, 5], [0, 1, 2])
    with pytest.raises(ValueError, match='values'):
        step_weight(0, [5], [0.0])


@pytest.mark.parametrize('cfg,match', [
    (dict(), 'at least one'),
    (dict(gamma=dict(type='exp')), 'type'),
    (dict(gamma=dict(type='linear', start=0.0)), 'end'),
    (dict(gamma=dict(type='linear', start=-1.0, end=0.2, end_at=3)),
     'gamma.start'),
    (dict(beta=dict(type='step', milestones=[3], values=[0.1])), 'values'),
    (dict(alpha=dict(type='constant', value=0.1, by_epoch='yes')),
     'by_epoch'),
    (dict(alpha=dict(type='cosine', start=0, end=1, begin_at=4, end_at=2)),
     'end_at'),
])
def test_bad_hook_configs(cfg, match):
    with pytest.raises(ValueError, match=match):
        HOOKS.build(dict(type='LossWeightScheduleHook', **cfg))


def _fake_runner(model, epoch=0, iteration=0):
    return SimpleNamespace(model=model, epoch=epoch, iter=iteration,
                           train_loop=None,
                           message_hub=MessageHub.get_instance('lws_test'))


def test_hook_changes_the_loss_of_a_real_step():
    plain = build_algorithm()
    scheduled = copy.deepcopy(plain)
    hook = LossWeightScheduleHook(
        beta=dict(type='step', milestones=[2], values=[0.0, 0.4]),
        gamma=dict(type='linear', start=0.0, end=0.2, begin_at=0, end_at=4,
                   by_epoch=False))
    runner = _fake_runner(scheduled, epoch=1, iteration=1)
    hook.before_train_iter(runner, 0)
    distiller = scheduled.distiller
    for name in ('r18', 'mbv2'):
        assert distiller.loss_weights[name]['gamma'] == pytest.approx(0.05)
        assert distiller.loss_weights[name]['beta'] == 0.0
        assert distiller.loss_weights[name]['alpha'] == 0.4  # unscheduled
    assert distiller.gamma == pytest.approx(0.05) and distiller.beta == 0.0
    assert runner.message_hub.get_scalar(
        'train/loss_weight.gamma').current() == pytest.approx(0.05)

    batch = make_batch(8)
    log_plain = plain.train_step(copy.deepcopy(batch), separate_optim(plain))
    log_sched = scheduled.train_step(
        copy.deepcopy(batch), separate_optim(scheduled))
    for name in ('r18', 'mbv2'):
        # gamma 0.2 -> 0.05: a quarter of the peer term; beta 0.4 -> 0
        assert log_sched[f'{name}.loss_peer'].item() == pytest.approx(
            0.25 * log_plain[f'{name}.loss_peer'].item(), rel=1e-5)
        assert log_plain[f'{name}.loss_teacher'].item() > 0
        assert log_sched[f'{name}.loss_teacher'].item() == 0.0
        assert log_sched[f'{name}.loss_ce'].item() == pytest.approx(
            log_plain[f'{name}.loss_ce'].item(), rel=1e-6)


def test_hook_refuses_all_zero_weights_and_models_without_distiller():
    model = build_algorithm()
    hook = LossWeightScheduleHook(
        alpha=dict(type='constant', value=0.0),
        beta=dict(type='constant', value=0.0),
        gamma=dict(type='step', milestones=[3], values=[0.0, 0.2]))
    with pytest.raises(ValueError, match='all 0 at epoch 1'):
        hook.before_train_iter(_fake_runner(model), 0)
    hook.before_train_iter(_fake_runner(model, epoch=3), 0)  # gamma 0.2
    with pytest.raises(TypeError, match='MultiStudentDistiller'):
        hook.before_train(_fake_runner(torch.nn.Linear(2, 2)))


class _Dataset(torch.utils.data.Dataset):
    """12 tiny labelled images."""

    def __len__(self) -> int:
        return 12

    def __getitem__(self, i: int) -> dict:
        batch = make_batch(1, seed=i, labels=[i % NUM_CLASSES])
        return dict(inputs=batch['inputs'][0],
                    data_samples=batch['data_samples'][0])


@HOOKS.register_module(force=True)
class _WeightProbeHook(Hook):
    """Records the distiller's weights after the schedule hook ran."""
    priority = 'LOW'
    seen = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        weights = runner.model.distiller.loss_weights['mbv2']
        self.seen.append((runner.iter, weights['beta'], weights['gamma']))


def _run(work_dir, max_epochs, name, resume=False):
    from mmengine.runner import Runner
    _WeightProbeHook.seen = []
    optim = dict(type='OptimWrapper',
                 optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
    runner = Runner(
        model=algorithm_cfg(),
        work_dir=str(work_dir),
        experiment_name=name,
        train_dataloader=dict(
            dataset=_Dataset(), batch_size=4, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='pseudo_collate')),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        optim_wrapper=dict(
            constructor='mmrazor.SeparateOptimWrapperConstructor',
            r18=optim, mbv2=optim),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1),
                           checkpoint=dict(type='CheckpointHook',
                                           interval=1)),
        custom_hooks=[
            dict(type='LossWeightScheduleHook',
                 beta=dict(type='step', milestones=[1], values=[0.1, 0.4]),
                 gamma=dict(type='cosine', start=0.0, end=0.2, end_at=5,
                            by_epoch=False)),
            dict(type='_WeightProbeHook')
        ],
        visualizer=dict(type='Visualizer', name=name,
                        vis_backends=[dict(type='LocalVisBackend')]),
        default_scope='mmrazor',
        resume=resume)
    runner.train()
    rows = []
    for path in glob.glob(osp.join(str(work_dir), '*', 'vis_data',
                                   'scalars.json')):
        with open(path) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return list(_WeightProbeHook.seen), rows


def test_resumed_run_uses_the_same_weights(tmp_path):
    full, rows = _run(tmp_path / 'full', 2, 'lws_full')
    # 3 iterations per epoch; beta steps at epoch 1, gamma is a cosine
    # ramp over iterations 0..5
    expected = [(it, 0.1 if it < 3 else 0.4,
                 0.1 * (1 - math.cos(math.pi * min(it / 5, 1.0))))
                for it in range(6)]
    assert [s[0] for s in full] == list(range(6))
    assert full == [pytest.approx(e) for e in expected]
    # logged every iteration; like every scalar, as the mean over the log
    # processor's window (10 iterations, here all so far)
    logged = [r['loss_weight.gamma'] for r in rows
              if 'loss_weight.gamma' in r]
    gammas = [e[2] for e in expected]
    assert logged == pytest.approx(
        [sum(gammas[:i + 1]) / (i + 1) for i in range(6)], abs=1e-4)

    _run(tmp_path / 'split', 1, 'lws_first')
    resumed, _ = _run(tmp_path / 'split', 2, 'lws_resumed', resume=True)
    assert [s[0] for s in resumed] == [3, 4, 5]
    assert resumed == [pytest.approx(e) for e in full[3:]]


def test_custom_hooks_entry_from_a_config_dict():
    hook = HOOKS.build(dict(type='LossWeightScheduleHook',
                            gamma=dict(type='linear', start=0.0, end=0.2,
                                       by_epoch=True, end_at=10)))
    assert hook.values_at(epoch=5, iteration=999) == pytest.approx(
        dict(gamma=0.1))
