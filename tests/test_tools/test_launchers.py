"""tools/slurm_train.sh / slurm_test.sh build the OpenMMLab srun command
(checked with a stand-in ``srun`` on the PATH), and the small hooks behind
exact resume and rank-mean logging."""
import importlib.util
import os
import os.path as osp
import random
import subprocess

import numpy as np
import pytest
import torch

from ..conftest import REPO_ROOT

FAKE_SRUN = '''#!/usr/bin/env bash
# records its arguments, one per line, and the PYTHONPATH it got
printf '%s\\n' "$@" > "$SRUN_RECORD"
echo "PYTHONPATH=$PYTHONPATH" >> "$SRUN_RECORD"
'''


def _tool_parser(name: str):
    spec = importlib.util.spec_from_file_location(
        f'_{name}_tool', osp.join(REPO_ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.parse_args


@pytest.mark.parametrize('script, tool, fourth', [
    ('slurm_train.sh', 'train', 'work_dirs/udskd'),
    ('slurm_test.sh', 'test', 'work_dirs/udskd/epoch_50.pth'),
])
def test_slurm_scripts_build_the_srun_command(tmp_path, script, tool,
                                              fourth):
    (tmp_path / 'bin').mkdir()
    srun = tmp_path / 'bin' / 'srun'
    srun.write_text(FAKE_SRUN)
    srun.chmod(0o755)
    record = tmp_path / 'argv.txt'
    config = ('configs/udskd/'
              'udskd_logits_resnet50_resnet18-mobilenet-v2_8xb8_in100.py')
    env = dict(os.environ, PATH=f'{tmp_path / "bin"}:{os.environ["PATH"]}',
               SRUN_RECORD=str(record), GPUS='16', GPUS_PER_NODE='8',
               CPUS_PER_TASK='4', SRUN_ARGS='--quotatype=auto --time=1:00',
               PYTHON='python3')
    extra = ['--cfg-options', 'model.teacher_ckpt=t.pth', 'data_root=/d']
    proc = subprocess.run(['bash', f'tools/{script}', 'gpu_part', 'udskd',
                           config, fourth, *extra], cwd=REPO_ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout
    lines = record.read_text().splitlines()
    assert lines[-1].startswith('PYTHONPATH=tools/..:')  # the repo root
    argv = lines[:-1]
    i = argv.index('python3')
    assert argv[:i] == ['-p', 'gpu_part', '--job-name=udskd', '--gres=gpu:8',
                        '--ntasks=16', '--ntasks-per-node=8',
                        '--cpus-per-task=4', '--kill-on-bad-exit=1',
                        '--quotatype=auto', '--time=1:00']
    assert argv[i + 1] == '-u'
    assert argv[i + 2].endswith(f'tools/{tool}.py')
    args = argv[i + 3:]
    assert '--launcher=slurm' in args and args[-3:] == extra
    parsed = _tool_parser(tool)(args)  # the tool accepts this command line
    assert parsed.launcher == 'slurm' and parsed.config == config
    if tool == 'train':
        assert parsed.work_dir == fourth
    else:
        assert parsed.checkpoint == fourth
    assert parsed.cfg_options['model.teacher_ckpt'] == 't.pth'


def test_slurm_script_usage_error():
    proc = subprocess.run(['bash', 'tools/slurm_train.sh', 'part'],
                          cwd=REPO_ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=60)
    assert proc.returncode == 2 and 'usage:' in proc.stdout


class _Runner:
    """The attributes EpochSeedHook reads."""

    def __init__(self, seed, epoch: int, diff_rank_seed: bool = False):
        self.seed = seed
        self.epoch = epoch
        self.cfg = dict(randomness=dict(seed=seed,
                                        diff_rank_seed=diff_rank_seed))


def _draws():
    return (random.random(), float(np.random.rand()),
            float(torch.rand(())))


def test_epoch_seed_hook_makes_an_epoch_independent_of_history():
    from mmrazor_udskd.engine.hooks import EpochSeedHook
    hook = EpochSeedHook()
    hook.before_train_epoch(_Runner(0, epoch=2))
    fresh = _draws()
    _draws()  # whatever happened before (an earlier epoch, a resume)
    hook.before_train_epoch(_Runner(0, epoch=2))
    assert _draws() == fresh
    hook.before_train_epoch(_Runner(0, epoch=3))
    assert _draws() != fresh
    hook.before_train_epoch(_Runner(1, epoch=2))
    assert _draws() != fresh
    state = _draws()
    EpochSeedHook().before_train_epoch(_Runner(None, epoch=2))  # no seed
    assert _draws() != state


def test_sync_log_vars_hook_is_a_no_op_in_one_process():
    from mmrazor_udskd.engine.hooks import SyncLogVarsHook
    outputs = dict(loss=torch.tensor(1.5), acc=2.0)
    SyncLogVarsHook().after_train_iter(None, 0, None, outputs)
    assert outputs == dict(loss=torch.tensor(1.5), acc=2.0)


def test_shell_scripts_parse():
    for name in ('slurm_train.sh', 'slurm_test.sh', 'dist_train.sh'):
        proc = subprocess.run(['bash', '-n', osp.join('tools', name)],
                              cwd=REPO_ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        assert proc.returncode == 0, (name, proc.stdout)
