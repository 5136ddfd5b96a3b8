"""Exact resume with two ranks: a ``tools/dist_train.sh`` run (2 CPU
processes, gloo) SIGKILLed in the middle of an epoch and restarted with
``--resume`` ends where an uninterrupted 2-rank run ends."""
import os
import os.path as osp
import signal
import subprocess
import sys
import time
from typing import List

import pytest

from ..conftest import CPU_CFG_OPTIONS, REPO_ROOT
from ..helpers.runner_configs import (DEFAULT_HOOKS, assert_same_tensors,
                                      free_port, load_ckpt, subprocess_env,
                                      write_config)

pytestmark = pytest.mark.slow  # three 2-rank training runs

# 24 train images over 2 ranks, 4 per rank: 3 iterations an epoch, 2 epochs
SMALL = [
    'train_dataloader.batch_size=4', 'train_dataloader.dataset.indices=24',
    'train_cfg.max_epochs=2', 'train_cfg.val_begin=1000',
    'val_dataloader.dataset.indices=8', 'randomness.seed=0',
    'randomness.deterministic=True'
]
KILL_AT = 4  # iteration 4 = epoch 2, iteration 1 of 3


def _cmd(cfg: str, work_dir: str, data_root: str, *extra: str) -> List[str]:
    return ['bash', 'tools/dist_train.sh', cfg, '2', '--work-dir', work_dir,
            *extra, '--cfg-options', *CPU_CFG_OPTIONS,
            f'data_root={data_root}', *SMALL]


def _env() -> dict:
    return subprocess_env(PORT=str(free_port()), PYTHON=sys.executable)


def _run(cmd: List[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=REPO_ROOT, env=_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=600)


def _pids_of(path: str) -> List[int]:
    """Live processes whose command line names ``path`` (the launcher,
    torchrun and both ranks: torchrun starts each rank in a session of its
    own, so no process group holds them all)."""
    pids = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f'/proc/{entry}/cmdline', 'rb') as f:
                if path.encode() in f.read():
                    pids.append(int(entry))
        except OSError:  # gone meanwhile
            pass
    return pids


def _kill_all(path: str) -> None:
    """SIGKILL every process of the run, as a lost node would end it."""
    for pid in _pids_of(path):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_two_rank_sigkill_then_resume_equals_uninterrupted(
        cifar10_tiny, tmp_path):
    marker = str(tmp_path / 'paused')
    plain = write_config(str(tmp_path / 'plain.py'),
                         f'custom_hooks = [{DEFAULT_HOOKS}]')
    killed = write_config(
        str(tmp_path / 'killed.py'),
        f"custom_hooks = [{DEFAULT_HOOKS}, dict(type='PauseAtIterHook', "
        f'pause_at={KILL_AT}, marker={marker!r})]')
    ref_dir, run_dir = str(tmp_path / 'ref'), str(tmp_path / 'run')
    log = tmp_path / 'killed.log'

    with open(log, 'w') as out:
        proc = subprocess.Popen(_cmd(killed, run_dir, cifar10_tiny),
                                cwd=REPO_ROOT, env=_env(), stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        ref = _run(_cmd(plain, ref_dir, cifar10_tiny))
        assert ref.returncode == 0, ref.stdout[-4000:]
        deadline = time.time() + 300
        while not osp.exists(marker) and proc.poll() is None and \
                time.time() < deadline:
            time.sleep(0.2)
        assert osp.exists(marker), log.read_text()[-4000:]
        assert len(_pids_of(killed)) >= 4  # bash, torchrun, 2 ranks
        _kill_all(killed)  # mid-epoch, no chance to clean up
        proc.wait(timeout=60)
    finally:  # never leave paused ranks behind
        _kill_all(killed)
        if proc.poll() is None:
            proc.wait(timeout=60)
    deadline = time.time() + 30
    while _pids_of(killed) and time.time() < deadline:
        time.sleep(0.2)
    assert _pids_of(killed) == []
    text = log.read_text()
    assert f'Epoch(train) [2][{KILL_AT - 3}/3]' in text, text[-4000:]
    assert 'Epoch(train) [2][3/3]' not in text
    with open(osp.join(run_dir, 'last_checkpoint')) as f:
        assert osp.basename(f.read().strip()) == 'epoch_1.pth'
    assert not osp.exists(osp.join(run_dir, 'epoch_2.pth'))

    res = _run(_cmd(plain, run_dir, cifar10_tiny, '--resume'))
    assert res.returncode == 0, res.stdout[-4000:]
    assert 'resumed epoch: 1' in res.stdout
    assert 'Epoch(train) [1]' not in res.stdout
    assert 'Epoch(train) [2][3/3]' in res.stdout

    a = load_ckpt(osp.join(ref_dir, 'epoch_2.pth'))
    b = load_ckpt(osp.join(run_dir, 'epoch_2.pth'))
    assert (a['meta']['epoch'], a['meta']['iter']) == (2, 6)
    # every weight and buffer (rank 0 saves), bit for bit
    assert_same_tensors(a['state_dict'], b['state_dict'], 'state_dict')
    assert any(k.startswith('mbv2.') for k in a['state_dict'])
    # each student's optimizer state and LR schedule
    assert set(a['optimizer']) == {'r18', 'mbv2'}
    assert a['optimizer']['mbv2']['state'], 'no momentum buffers saved'
    assert_same_tensors(a['optimizer'], b['optimizer'], 'optimizer')
    assert_same_tensors(a['param_schedulers'], b['param_schedulers'],
                        'param_schedulers')
    # the logged (rank-mean) training losses of epoch 2, iteration by
    # iteration
    loss_a = a['message_hub']['log_scalars']['train/loss']
    loss_b = b['message_hub']['log_scalars']['train/loss']
    assert_same_tensors(loss_a.data[0].tolist()[-3:],
                        loss_b.data[0].tolist()[-3:], 'train/loss of epoch 2')
