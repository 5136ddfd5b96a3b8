"""Checkpoints: written atomically by default (a crash during a save keeps
the previous one loadable) and the best-checkpoint record survives
``--resume``."""
import hashlib
import os
import os.path as osp

import mmrazor_udskd  # noqa: F401  isort:skip  (before mmrazor)
import pytest
import torch
from mmengine.config import Config
from mmengine.fileio.backends import local_backend

from mmrazor_udskd.engine.fileio import AtomicLocalBackend
from ...conftest import REPO_ROOT
from ...helpers.runner_configs import (CIFAR_UDSKD, DEFAULT_HOOKS,
                                       build_runner, load_ckpt)


class SimulatedCrash(BaseException):
    """Stands for the process dying (not an ``Exception``: nothing may
    catch it on the way out)."""


def _sha(path: str) -> str:
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.mark.parametrize('config', [
    CIFAR_UDSKD,
    osp.join(REPO_ROOT, 'configs/baselines/resnet18_1xb64_cifar10.py'),
])
def test_default_runtime_writes_checkpoints_atomically(config):
    cfg = Config.fromfile(config)
    ckpt = cfg.default_hooks.checkpoint
    assert ckpt.backend_args == dict(backend='atomic_local')
    types = [h['type'] for h in cfg.custom_hooks]
    for hook in ('DataSanityHook', 'SyncLogVarsHook', 'EpochSeedHook'):
        assert hook in types


def test_crash_during_save_keeps_last_checkpoint_loadable(
        cifar10_tiny, tmp_path, monkeypatch):
    runner = build_runner(tmp_path, cifar10_tiny,
                          options={'train_cfg.max_epochs': 2})
    work_dir = runner.work_dir
    save = runner.save_checkpoint

    def boom(fd: int) -> None:
        raise SimulatedCrash('killed while writing')

    def crashing_save(out_dir, filename, *args, **kwargs):
        if filename == 'epoch_2.pth':
            # the bytes are in the temporary file, the rename not done yet
            monkeypatch.setattr(os, 'fsync', boom)
        return save(out_dir, filename, *args, **kwargs)

    monkeypatch.setattr(runner, 'save_checkpoint', crashing_save)
    with pytest.raises(SimulatedCrash):
        runner.train()
    monkeypatch.undo()
    hook = next(h for h in runner.hooks if type(h).__name__ ==
                'CheckpointHook')
    assert isinstance(hook.file_backend, AtomicLocalBackend)

    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        last = f.read().strip()
    assert osp.basename(last) == 'epoch_1.pth'
    ckpt = load_ckpt(last)  # complete, weights-only loadable
    assert ckpt['meta']['epoch'] == 1
    assert any(k.startswith('r18.') for k in ckpt['state_dict'])
    files = os.listdir(work_dir)
    assert 'epoch_2.pth' not in files
    assert not [f for f in files if f.endswith('.tmp')], files

    # a crash while overwriting an existing file keeps the old bytes
    before = _sha(last)
    monkeypatch.setattr(os, 'fsync', boom)
    with pytest.raises(SimulatedCrash):
        runner.save_checkpoint(work_dir, 'epoch_1.pth',
                               backend_args=dict(backend='atomic_local'))
    monkeypatch.undo()
    assert _sha(last) == before
    assert not [f for f in os.listdir(work_dir) if f.endswith('.tmp')]

    # negative control: MMEngine's plain local backend truncates the file
    # first, so the same crash destroys the checkpoint
    real_open = open

    def dying_open(path, mode='r', *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        if 'w' in mode:
            real_write = handle.write

            class _Half:
                def __enter__(self):
                    return self

                def __exit__(self, *exc):
                    handle.close()

                def write(self, data):
                    real_write(data[:len(data) // 2])
                    raise SimulatedCrash('killed while writing')

            return _Half()
        return handle

    monkeypatch.setattr(local_backend, 'open', dying_open, raising=False)
    with pytest.raises(SimulatedCrash):
        runner.save_checkpoint(work_dir, 'epoch_1.pth', backend_args=None)
    monkeypatch.undo()
    assert _sha(last) != before
    with pytest.raises(Exception):
        load_ckpt(last)


def _best(work_dir: str):
    return sorted(f for f in os.listdir(work_dir) if f.startswith('best_'))


def test_resume_keeps_best_checkpoint_record(cifar10_tiny, tmp_path):
    """Resumed from ``epoch_1.pth`` (best so far: epoch 1), with epoch 2
    scoring worse, the best stays epoch 1: the record is in ``epoch_1.pth``
    (MMEngine re-saves the epoch checkpoint after a new best) and the old
    best file is neither forgotten nor replaced."""
    first = build_runner(tmp_path, cifar10_tiny, name='first')
    first.train()
    work_dir = first.work_dir
    best1 = first.message_hub.get_info('best_score')
    epoch1 = load_ckpt(osp.join(work_dir, 'epoch_1.pth'))
    assert epoch1['message_hub']['runtime_info']['best_score'] == best1
    assert _best(work_dir) == ['best_r18_accuracy_top1_epoch_1.pth']

    worse = ("dict(type='MetricOverrideHook', key='r18/accuracy/top1', "
             'value=-1.0, from_epoch=2)')
    second = build_runner(
        tmp_path, cifar10_tiny, f'custom_hooks = [{DEFAULT_HOOKS}, {worse}]',
        options={'train_cfg.max_epochs': 2, 'resume': True,
                 'work_dir': work_dir}, name='first')
    second.train()
    assert second.message_hub.get_info('best_score') == best1
    assert osp.basename(second.message_hub.get_info('best_ckpt')) == \
        'best_r18_accuracy_top1_epoch_1.pth'
    assert _best(work_dir) == ['best_r18_accuracy_top1_epoch_1.pth']
    final = load_ckpt(osp.join(work_dir, 'epoch_2.pth'))
    assert final['message_hub']['runtime_info']['best_score'] == best1


def test_checkpoint_keys_do_not_depend_on_ddp(tmp_path):
    """Student keys are ``<name>.<key>`` with or without each student's
    DDP wrapper, and old ``<name>.module.<key>`` checkpoints still load."""
    import torch.distributed as dist
    from mmengine.model import MMSeparateDistributedDataParallel
    from mmengine.runner.checkpoint import load_state_dict
    from mmrazor.registry import MODELS

    from ...helpers.tiny_models import tiny_pair
    cfg = dict(_scope_='mmrazor', type='MultiStudentDistill',
               teacher=tiny_pair(width=8),
               students=dict(r18=tiny_pair(), mbv2=tiny_pair(width=6)),
               teacher_ckpt='random')

    def build(offset: float):
        torch.manual_seed(0)
        model = MODELS.build(cfg)
        model.init_weights()
        with torch.no_grad():
            for p in model.parameters():
                p.add_(offset)
        return model

    # a one-rank group over a file store: no port to pick
    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/store',
                            rank=0, world_size=1)
    try:
        plain = build(0.0).state_dict()
        wrapped = build(0.0)
        MMSeparateDistributedDataParallel(wrapped, broadcast_buffers=False)
        assert list(wrapped.state_dict()) == list(plain)
        # a canonical checkpoint into a wrapped model (distributed resume)
        target = build(1.0)
        MMSeparateDistributedDataParallel(target, broadcast_buffers=False)
        load_state_dict(target, plain, strict=True)
        for key, value in target.state_dict().items():
            assert torch.equal(value, plain[key]), key
    finally:
        dist.destroy_process_group()
    # an old checkpoint with wrapped keys into an unwrapped model
    legacy = {k.replace('r18.', 'r18.module.', 1): v for k, v in
              plain.items()}
    target = build(1.0)
    target.load_state_dict(legacy, strict=True)
    for key, value in target.state_dict().items():
        assert torch.equal(value, plain[key]), key
