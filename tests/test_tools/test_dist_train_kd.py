"""tools/dist_train.sh with 2 CPU processes (gloo): students stay identical
across ranks."""
import os
import os.path as osp
import socket
import subprocess
import textwrap

import pytest
import torch

from ..conftest import CPU_CFG_OPTIONS, REPO_ROOT

DUMP_HOOK = '''
import os.path as osp
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class RankDumpHook(Hook):
    """Saves this rank's raw (unwrapped) model state after training."""

    def _dump(self, runner, tag):
        model = runner.model.module if hasattr(runner.model, 'module') \\
            else runner.model
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        torch.save(state, osp.join(runner.work_dir,
                                   f'rank{get_rank()}_{tag}.pth'))

    def before_train(self, runner):
        self._dump(runner, 'init')

    def after_train(self, runner):
        self._dump(runner, 'final')
'''


pytestmark = pytest.mark.slow  # two training processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_dist_train_two_cpu_ranks_keep_students_identical(
        cifar10_tiny, tmp_path):
    (tmp_path / 'rank_dump_hook.py').write_text(DUMP_HOOK)
    cfg = tmp_path / 'kd_dist.py'
    cfg.write_text(textwrap.dedent(f'''
        _base_ = [{osp.join(REPO_ROOT, "configs/kd/kd_logits_resnet50_resnet18_1xb64_cifar10.py")!r}]
        custom_imports = dict(imports=['mmrazor_udskd', 'rank_dump_hook'],
                              allow_failed_imports=False)
        custom_hooks = [dict(type='RankDumpHook')]
    '''))
    work_dir = tmp_path / 'work'
    env = dict(os.environ, PORT=str(free_port()), PYTHONWARNINGS='ignore',
               OMP_NUM_THREADS='1', PYTHON=__import__('sys').executable,
               PYTHONPATH=f'{tmp_path}:{REPO_ROOT}')
    proc = subprocess.run(
        ['bash', 'tools/dist_train.sh', str(cfg), '2', '--work-dir',
         str(work_dir), '--cfg-options', *CPU_CFG_OPTIONS,
         f'data_root={cifar10_tiny}', 'train_cfg.max_epochs=1',
         'model.teacher_ckpt=random',
         'train_dataloader.batch_size=8'],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert 'Distributed training: True' in proc.stdout
    final = [torch.load(work_dir / f'rank{r}_final.pth') for r in (0, 1)]
    init = [torch.load(work_dir / f'rank{r}_init.pth') for r in (0, 1)]
    student = [k for k in final[0] if k.startswith('architecture.')
               and final[0][k].is_floating_point() and 'running' not in k]
    assert len(student) > 10
    for key in student:
        # same start (same seed) and identical after training: the
        # gradients were all-reduced every step
        assert torch.equal(init[0][key], init[1][key]), key
        assert torch.equal(final[0][key], final[1][key]), key
    # and the students really trained
    changed = [k for k in student if not torch.equal(final[0][k], init[0][k])]
    assert len(changed) > 0.9 * len(student)
    # the frozen teacher: identical across ranks and unchanged
    teacher = [k for k in final[0] if k.startswith('teacher.')]
    for key in teacher:
        assert torch.equal(final[0][key], final[1][key]), key
        assert torch.equal(final[0][key], init[0][key]), key
    # rank 0's checkpoint holds the trained student
    ckpt = torch.load(work_dir / 'epoch_1.pth')['state_dict']
    assert all(torch.equal(ckpt[k], final[0][k]) for k in student)
