"""Exact resume: a run SIGKILLed in the middle of an epoch and restarted
with ``--resume`` ends exactly where an uninterrupted run ends (student
weights, every optimizer's state, LR schedules, best-checkpoint record)."""
import json
import os
import os.path as osp
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import List

import pytest
import torch

from ..conftest import CPU_CFG_OPTIONS, REPO_ROOT
from ..helpers.runner_configs import (DEFAULT_HOOKS, assert_same_tensors,
                                      assert_weights_only_is_default,
                                      load_ckpt, subprocess_env, write_config)

# 24 train images, batch 8: 3 iterations per epoch, 3 epochs; 20 val images
SMALL = [
    'train_dataloader.batch_size=8', 'train_dataloader.dataset.indices=24',
    'val_dataloader.batch_size=10', 'val_dataloader.dataset.indices=20',
    'train_cfg.max_epochs=3', 'randomness.seed=0',
    'randomness.deterministic=True'
]
KILL_AT = 5  # iteration 5 = epoch 2, iteration 2 of 3


class _Hostile:
    """A pickle that would create a file when loaded."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def _cmd(cfg: str, work_dir: str, data_root: str, *extra: str) -> List[str]:
    return [sys.executable, 'tools/train.py', cfg, '--work-dir', work_dir,
            *extra, '--cfg-options', *CPU_CFG_OPTIONS,
            f'data_root={data_root}', *SMALL]


def _run(cmd: List[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=REPO_ROOT, env=subprocess_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=600)


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(
        cifar10_tiny, tmp_path):
    assert_weights_only_is_default(str(tmp_path))
    marker = str(tmp_path / 'paused')
    hostile = str(tmp_path / 'hostile.pth')
    pwned = str(tmp_path / 'pwned')
    torch.save({'x': _Hostile(pwned)}, hostile)
    probe = str(tmp_path / 'probe.json')
    plain = write_config(str(tmp_path / 'plain.py'))
    killed = write_config(
        str(tmp_path / 'killed.py'),
        f"custom_hooks = [{DEFAULT_HOOKS}, dict(type='PauseAtIterHook', "
        f'pause_at={KILL_AT}, marker={marker!r})]')
    resumed = write_config(
        str(tmp_path / 'resumed.py'),
        f"custom_hooks = [{DEFAULT_HOOKS}, dict(type='WeightsOnlyProbeHook', "
        f'hostile={hostile!r}, out={probe!r})]')
    ref_dir, run_dir = str(tmp_path / 'ref'), str(tmp_path / 'run')

    # the run to be killed, started first; the reference runs meanwhile
    log: List[str] = []
    proc = subprocess.Popen(_cmd(killed, run_dir, cifar10_tiny),
                            cwd=REPO_ROOT, env=subprocess_env(),
                            stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        reader = threading.Thread(target=lambda: log.extend(proc.stdout),
                                  daemon=True)
        reader.start()
        ref = _run(_cmd(plain, ref_dir, cifar10_tiny))
        assert ref.returncode == 0, ref.stdout[-4000:]
        deadline = time.time() + 300
        while not osp.exists(marker) and proc.poll() is None and \
                time.time() < deadline:
            time.sleep(0.2)
        assert osp.exists(marker), ''.join(log)[-4000:]
        os.kill(proc.pid, signal.SIGKILL)  # mid-epoch, no chance to clean up
        proc.wait(timeout=60)
        reader.join(timeout=10)
    finally:  # never leave the paused trainer behind
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    text = ''.join(log)
    assert f'Epoch(train) [2][{KILL_AT - 3}/3]' in text
    assert 'Epoch(train) [2][3/3]' not in text
    # the newest complete checkpoint is epoch 1's; nothing half-written
    with open(osp.join(run_dir, 'last_checkpoint')) as f:
        assert osp.basename(f.read().strip()) == 'epoch_1.pth'
    assert not [f for f in os.listdir(run_dir) if f.endswith('.tmp')]

    # negative control: the same resume without EpochSeedHook (MMEngine
    # does not restore the RNG state) ends elsewhere
    noseed_dir = str(tmp_path / 'noseed')
    shutil.copytree(run_dir, noseed_dir)
    with open(osp.join(noseed_dir, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(noseed_dir, 'epoch_1.pth'))
    noseed = write_config(
        str(tmp_path / 'noseed.py'),
        "custom_hooks = [dict(type='DataSanityHook'), "
        "dict(type='SyncLogVarsHook')]")
    res = _run(_cmd(noseed, noseed_dir, cifar10_tiny, '--resume'))
    assert res.returncode == 0, res.stdout[-4000:]
    assert 'EpochSeedHook' not in res.stdout
    ref_state = load_ckpt(osp.join(ref_dir, 'epoch_3.pth'))['state_dict']
    off_state = load_ckpt(osp.join(noseed_dir, 'epoch_3.pth'))['state_dict']
    differ = [k for k in ref_state if k.startswith(('r18.', 'mbv2.'))
              and not torch.equal(ref_state[k], off_state[k])]
    assert len(differ) > 10, differ

    res = _run(_cmd(resumed, run_dir, cifar10_tiny, '--resume'))
    assert res.returncode == 0, res.stdout[-4000:]
    assert 'resumed epoch: 1' in res.stdout
    assert 'Epoch(train) [1]' not in res.stdout
    assert 'Epoch(train) [3][3/3]' in res.stdout
    # resuming loaded the run's own checkpoint weights-only: the same
    # process still refuses a pickle that runs code, so nothing disabled
    # weights-only loading
    with open(probe) as f:
        seen = json.load(f)
    assert seen == dict(refused='io.open', iter=3, epoch=1)
    assert not osp.exists(pwned)

    a = load_ckpt(osp.join(ref_dir, 'epoch_3.pth'))
    b = load_ckpt(osp.join(run_dir, 'epoch_3.pth'))
    # every weight and buffer of students and teacher, bit for bit
    assert_same_tensors(a['state_dict'], b['state_dict'], 'state_dict')
    assert any(k.startswith('r18.') for k in a['state_dict'])
    # each student's optimizer: momentum buffers, lr, ...
    assert set(a['optimizer']) == {'r18', 'mbv2'}
    assert_same_tensors(a['optimizer'], b['optimizer'], 'optimizer')
    assert a['optimizer']['r18']['state'], 'no momentum buffers saved'
    # LR schedules of both students
    assert_same_tensors(a['param_schedulers'], b['param_schedulers'],
                         'param_schedulers')
    for key in ('epoch', 'iter', 'seed'):
        assert a['meta'][key] == b['meta'][key], key
    assert (a['meta']['epoch'], a['meta']['iter']) == (3, 9)
    # the best-checkpoint record
    info_a = a['message_hub']['runtime_info']
    info_b = b['message_hub']['runtime_info']
    assert 'best_score' in info_a
    assert info_a['best_score'] == info_b['best_score']
    assert osp.basename(info_a['best_ckpt']) == \
        osp.basename(info_b['best_ckpt'])
    best = [f for f in os.listdir(ref_dir) if f.startswith('best_')]
    assert sorted(best) == sorted(
        f for f in os.listdir(run_dir) if f.startswith('best_'))
    # the same training losses, iteration by iteration
    loss_a = a['message_hub']['log_scalars']['train/loss']
    loss_b = b['message_hub']['log_scalars']['train/loss']
    assert_same_tensors(loss_a.data[0].tolist(), loss_b.data[0].tolist(),
                         'train/loss history')
