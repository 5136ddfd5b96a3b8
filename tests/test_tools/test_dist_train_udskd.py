"""Distributed dual-student training with 2 CPU processes (gloo) through
``tools/dist_train.sh``: students synced, teacher untouched, logged values
are means over ranks, and 2 x b per rank equals 1 x 2b (BN frozen)."""
import glob
import json
import os.path as osp
import subprocess
import sys
from typing import Dict, List

import mmrazor_udskd  # noqa: F401  isort:skip  (before mmrazor)
import pytest
import torch
from mmrazor.registry import MODELS

from ..conftest import CPU_CFG_OPTIONS, REPO_ROOT
from ..helpers.runner_configs import (DEFAULT_HOOKS, free_port, subprocess_env,
                                      write_config)
from ..helpers.tiny_models import tiny_pair

STUDENTS = ('r18', 'mbv2')


def _dist_train(cfg: str, work_dir: str, nproc: int,
                *options: str) -> subprocess.CompletedProcess:
    """``bash tools/dist_train.sh cfg nproc`` (or tools/train.py for 1)."""
    env = subprocess_env(PORT=str(free_port()), PYTHON=sys.executable)
    if nproc == 1:
        head = [sys.executable, 'tools/train.py', cfg]
    else:
        head = ['bash', 'tools/dist_train.sh', cfg, str(nproc)]
    return subprocess.run(
        [*head, '--work-dir', work_dir, '--cfg-options', *CPU_CFG_OPTIONS,
         'train_cfg.val_begin=1000', 'val_dataloader.dataset.indices=10',
         *options],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=600)


def _dump_hooks(out_dir: str) -> str:
    return (f"custom_hooks = [dict(type='RankDumpHook', out_dir={out_dir!r}),"
            f' {DEFAULT_HOOKS}]')


def _synced(key: str) -> bool:
    """Parameters are all-reduced; BN running statistics stay per rank
    (``broadcast_buffers=False``)."""
    return not any(s in key for s in ('running_', 'num_batches_tracked'))


def unsynced_keys(rank0: Dict, rank1: Dict) -> List[str]:
    """Student weights that differ between the two ranks' dumps."""
    return [f'{name}.{key}' for name in STUDENTS
            for key, value in rank0['students'][name].items()
            if _synced(key)
            and not torch.equal(value, rank1['students'][name][key])]


def _load_dumps(out_dir: str) -> List[Dict]:
    return [torch.load(osp.join(out_dir, f'rank{r}.pth'), weights_only=True)
            for r in (0, 1)]


def _logged(work_dir: str, key: str) -> List[float]:
    """``key`` of every training iteration from scalars.json."""
    path, = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    with open(path) as f:
        rows = [json.loads(line) for line in f]
    return [row[key] for row in rows if key in row and 'lr' in str(row)]


def _predict_all_top1(cfg_path: str, ckpt: str, data_root: str,
                      n_images: int) -> Dict[str, float]:
    """Top-1 (%) of every model of ``predict_all`` on the first
    ``n_images`` test images, in this process, from ``ckpt``."""
    from mmengine.config import Config
    from mmengine.registry import DATASETS, init_default_scope

    from mmrazor_udskd.utils import apply_data_root
    cfg = Config.fromfile(cfg_path)
    apply_data_root(cfg, data_root)
    init_default_scope('mmpretrain')
    dataset = DATASETS.build(dict(cfg.test_dataloader.dataset,
                                  indices=n_images))
    model = MODELS.build(dict(cfg.model,
                              data_preprocessor=cfg.data_preprocessor))
    state = torch.load(ckpt, map_location='cpu',
                       weights_only=True)['state_dict']
    model.load_state_dict(state, strict=True)
    model.eval()
    hits: Dict[str, int] = {}
    for start in range(0, n_images, 5):
        items = [dataset[i] for i in range(start, min(start + 5, n_images))]
        batch = dict(inputs=[x['inputs'] for x in items],
                     data_samples=[x['data_samples'] for x in items])
        with torch.no_grad():
            data = model.data_preprocessor(batch, False)
            preds = model.predict_all(**data)
        for name, samples in preds.items():
            hits[name] = hits.get(name, 0) + sum(
                int(s.pred_label.item() == s.gt_label.item())
                for s in samples)
    return {name: 100.0 * h / n_images for name, h in hits.items()}


def assert_test_tool_matches_predict_all(cfg_path: str, ckpt: str,
                                         data_root: str, work_dir: str,
                                         n_images: int = 10) -> None:
    """``tools/test.py`` on ``ckpt`` reports, per model, the top-1 of an
    in-process ``predict_all`` from the same checkpoint."""
    out = osp.join(work_dir, 'metrics.json')
    proc = subprocess.run(
        [sys.executable, 'tools/test.py', cfg_path, ckpt, '--work-dir',
         work_dir, '--out', out, '--cfg-options', *CPU_CFG_OPTIONS,
         f'data_root={data_root}',
         f'test_dataloader.dataset.indices={n_images}',
         'test_dataloader.batch_size=5'],
        cwd=REPO_ROOT, env=subprocess_env(), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:]
    with open(out) as f:
        metrics = json.load(f)
    expected = _predict_all_top1(cfg_path, ckpt, data_root, n_images)
    assert set(expected) == {'r18', 'mbv2', 'ensemble', 'teacher'}
    for name, top1 in expected.items():
        assert metrics[f'{name}/accuracy/top1'] == pytest.approx(top1), (
            name, metrics)


@pytest.mark.slow
def test_dist_train_dual_student_cifar(cifar10_tiny, tmp_path):
    """The CIFAR-10 dual-student config (R50 -> R18 + MBv2) on 2 ranks."""
    dumps = str(tmp_path / 'dumps')
    cfg = write_config(str(tmp_path / 'cfg.py'), _dump_hooks(dumps),
                       tiny=False)
    work_dir = str(tmp_path / 'work')
    # 32 images, 8 per rank and step: 2 iterations
    proc = _dist_train(cfg, work_dir, 2, f'data_root={cifar10_tiny}',
                       'train_cfg.max_epochs=1',
                       'train_dataloader.batch_size=8',
                       'train_dataloader.dataset.indices=32')
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert 'Distributed training: True' in proc.stdout
    r0, r1 = _load_dumps(dumps)

    # same start on both ranks; identical students after training
    assert unsynced_keys(dict(students=r0['init']['students']),
                         dict(students=r1['init']['students'])) == []
    assert unsynced_keys(r0['final'], r1['final']) == []
    for name in STUDENTS:
        init, final = r0['init']['students'][name], \
            r0['final']['students'][name]
        weights = [k for k in init if k.endswith('.weight')]
        assert len(weights) > 20
        changed = [k for k in weights if not torch.equal(init[k], final[k])]
        assert changed == weights, (name, set(weights) - set(changed))
    # the teacher: untouched (weights and BN statistics) on every rank
    for dump in (r0, r1):
        for key, value in r0['init']['teacher'].items():
            assert torch.equal(dump['final']['teacher'][key], value), key
    # rank 0's checkpoint holds the trained students, under the keys of a
    # single-process run (no `<name>.module.`), which is what MMEngine's
    # loader matches when it resumes a wrapped or an unwrapped model
    state = torch.load(osp.join(work_dir, 'epoch_1.pth'),
                       weights_only=True)['state_dict']
    assert not [k for k in state if '.module.' in k]
    for name in STUDENTS:
        for key, value in r0['final']['students'][name].items():
            assert torch.equal(state[f'{name}.{key}'], value), key

    # the logged loss is the mean over ranks of the rank-local losses
    assert len(r0['losses']) == len(r1['losses']) == 2
    assert r0['losses'] != r1['losses']  # different data on each rank
    logged = _logged(work_dir, 'loss')
    expected = [(a + b) / 2 for a, b in zip(r0['losses'], r1['losses'])]
    assert logged == pytest.approx(expected, rel=1e-6, abs=1e-7)
    # ... and so is every other logged value (per-student terms, stats)
    keys = set(r0['logs'][0])
    assert {'r18.loss_ce', 'r18.loss_teacher', 'mbv2.loss_peer',
            'stats.weight_mean', 'stats.entropy_t1'} <= keys
    differ = set()
    for key in sorted(keys):
        local = [(a[key], b[key]) for a, b in zip(r0['logs'], r1['logs'])]
        differ |= {key for a, b in local if a != b}
        assert _logged(work_dir, key) == pytest.approx(
            [(a + b) / 2 for a, b in local], rel=1e-5, abs=1e-6), key
    assert {'r18.loss_ce', 'mbv2.loss_teacher', 'stats.weight_mean'} <= differ

    # tools/test.py on the checkpoint the 2-rank run wrote
    assert_test_tool_matches_predict_all(
        cfg, osp.join(work_dir, 'epoch_1.pth'), cifar10_tiny,
        str(tmp_path / 'test'))


@pytest.mark.slow
def test_negative_control_unsynced_students_are_caught(cifar10_tiny,
                                                       tmp_path):
    """Students called through ``.module`` (bypassing their DDP wrappers)
    drift apart across ranks, and the check above reports it."""
    dumps = str(tmp_path / 'dumps')
    cfg = write_config(
        str(tmp_path / 'cfg.py'),
        _dump_hooks(dumps) +
        "\nmodel = dict(type='UnsyncedMultiStudentDistill')")
    proc = _dist_train(cfg, str(tmp_path / 'work'), 2,
                       f'data_root={cifar10_tiny}', 'train_cfg.max_epochs=1',
                       'train_dataloader.batch_size=8',
                       'train_dataloader.dataset.indices=16')
    assert proc.returncode == 0, proc.stdout[-5000:]
    r0, r1 = _load_dumps(dumps)
    bad = unsynced_keys(r0['final'], r1['final'])
    for name in STUDENTS:
        assert any(k.startswith(f'{name}.') for k in bad), name


# 2 ranks x batch b vs 1 process x batch 2b ---------------------------------
SAME_DATA = '''
train_dataloader = dict(
    dataset=dict(pipeline=[dict(type='LoadImageFromFile'),
                           dict(type='PackInputs')]),
    sampler=dict(shuffle=False))
'''


@pytest.mark.slow
def test_two_ranks_of_b_equal_one_process_of_2b_with_frozen_bn(
        cifar10_tiny, tmp_path):
    """One SGD step on 2 ranks x 4 images == 1 process x 8 images, when BN
    uses fixed statistics (``norm_eval=True``) and augmentation is off.

    With BN in training mode they differ on purpose: each rank normalises
    with its own 4-image batch statistics (and keeps its own running
    statistics, ``broadcast_buffers=False``), whereas one process
    normalises with the 8-image statistics; DDP averages gradients, not
    batch statistics (``test_bn_batch_statistics_explain_the_difference``).
    """
    frozen = "dict(backbone=dict(norm_eval=True))"
    body = (SAME_DATA + f'model = dict(students=dict(r18={frozen}, '
            f'mbv2={frozen}))\n')
    runs = {}
    for nproc, batch in ((2, 4), (1, 8)):
        dumps = str(tmp_path / f'dumps{nproc}')
        cfg = write_config(str(tmp_path / f'cfg{nproc}.py'),
                           _dump_hooks(dumps) + body)
        proc = _dist_train(cfg, str(tmp_path / f'work{nproc}'), nproc,
                           f'data_root={cifar10_tiny}',
                           'train_cfg.max_epochs=1',
                           f'train_dataloader.batch_size={batch}',
                           'train_dataloader.dataset.indices=8')
        assert proc.returncode == 0, proc.stdout[-5000:]
        runs[nproc] = _load_dumps(dumps)[0] if nproc == 2 else torch.load(
            osp.join(dumps, 'rank0.pth'), weights_only=True)
    two, one = runs[2], runs[1]
    assert len(two['losses']) == len(one['losses']) == 1  # one step each
    for name in STUDENTS:
        init2, init1 = two['init']['students'][name], \
            one['init']['students'][name]
        final2, final1 = two['final']['students'][name], \
            one['final']['students'][name]
        for key in init1:
            assert torch.equal(init2[key], init1[key]), key  # same start
            if not _synced(key):
                continue
            torch.testing.assert_close(final2[key], final1[key], rtol=1e-4,
                                       atol=1e-6, msg=f'{name}.{key}')
        assert not torch.equal(final1['head.fc.weight'],
                               init1['head.fc.weight'])
    # tools/test.py on the checkpoint of the single-process run
    assert_test_tool_matches_predict_all(
        str(tmp_path / 'cfg1.py'), str(tmp_path / 'work1' / 'epoch_1.pth'),
        cifar10_tiny, str(tmp_path / 'test1'))


def test_bn_batch_statistics_explain_the_difference():
    """What DDP computes (the mean of per-half gradients) equals the
    full-batch gradient for frozen BN, not for BN in training mode."""
    torch.manual_seed(0)
    x = torch.randn(8, 3, 8, 8)
    y = torch.arange(8) % 5

    def grads(model, parts):
        model.zero_grad()
        for part in parts:
            loss = torch.nn.functional.cross_entropy(
                model(x[part], mode='tensor'), y[part]) / len(parts)
            loss.backward()
        return {k: p.grad.clone() for k, p in model.named_parameters()}

    for norm_eval, same in ((True, True), (False, False)):
        net = MODELS.build(tiny_pair(norm_eval))
        net.init_weights()
        net.train()
        full = grads(net, [slice(0, 8)])
        halves = grads(net, [slice(0, 8, 2), slice(1, 8, 2)])
        close = all(torch.allclose(full[k], halves[k], rtol=1e-4, atol=1e-6)
                    for k in full)
        assert close is same, norm_eval
