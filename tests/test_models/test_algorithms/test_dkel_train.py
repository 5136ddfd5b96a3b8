"""End-to-end: one DKEL epoch on 100 real CIFAR-10 images through
tools/train.py, then a resume from its checkpoint."""
import glob
import json
import os.path as osp
import subprocess
from typing import Tuple

import pytest
import torch

CONFIG = 'configs/dkel/dkel_resnet18x2_1xb64_cifar10.py'
MODELS = ('b0', 'b1', 'b0_teacher', 'b1_teacher', 'ensemble')

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def trained(cifar10_tiny: str, train_cli,
            tmp_path_factory) -> Tuple[str, subprocess.CompletedProcess]:
    """Train the CIFAR-10 config for one epoch (7 iterations of 16 images;
    2 teacher-initialisation iterations, then 5 EMA iterations)."""
    work_dir = str(tmp_path_factory.mktemp('dkel_train'))
    proc = train_cli(CONFIG, work_dir, 'train_cfg.max_epochs=1',
                     'train_dataloader.batch_size=16',
                     'val_dataloader.batch_size=50',
                     'log_processor.window_size=1',
                     f'data_root={cifar10_tiny}')
    return work_dir, proc


def test_train_one_epoch(trained: Tuple[str,
                                        subprocess.CompletedProcess]) -> None:
    work_dir, proc = trained
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    assert glob.glob(osp.join(work_dir, 'best_ensemble_accuracy_top1*.pth'))
    out = proc.stdout
    for key in ('b0.loss_ce', 'b0.loss_kd', 'b0.loss_peer', 'b1.loss_ce',
                'b1.loss_kd', 'b1.loss_peer', 'decay_weight',
                'rampup_weight', 'b0_teacher.ce'):
        assert key in out, key
    for name in MODELS:
        assert f'{name}/accuracy/top1' in out, name

    scalars = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                        'scalars.json')))
    assert scalars
    with open(scalars[-1]) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    train_rows = [r for r in rows if 'b0.loss_ce' in r]
    assert len(train_rows) == 7
    # 2 teacher-initialisation iterations, then EMA with 1/2, 2/3, ... (the
    # initialised teacher is the first sample of the running mean)
    assert [r['teacher_init'] for r in train_rows] == [1, 1, 0, 0, 0, 0, 0]
    momenta = [r['ema_momentum'] for r in train_rows[2:]]
    assert momenta == pytest.approx([1 / 2, 2 / 3, 3 / 4, 4 / 5, 5 / 6],
                                    abs=1e-4)
    # epoch 0: decay weight e^0 = 1, ramp-up exp(-5) (13-epoch ramp)
    assert train_rows[0]['decay_weight'] == pytest.approx(1.0)
    assert train_rows[0]['rampup_weight'] == pytest.approx(0.0067379, abs=1e-6)
    for r in train_rows:
        assert r['b0.loss_ce'] > 0 and r['b0.loss_kd'] >= 0
        assert r['loss'] == pytest.approx(
            sum(r[f'b{i}.loss_{k}'] for i in range(2)
                for k in ('ce', 'kd', 'peer')), rel=1e-3, abs=1e-3)
    val_rows = [r for r in rows if 'ensemble/accuracy/top1' in r]
    assert len(val_rows) == 1
    for name in MODELS:
        assert 0.0 <= val_rows[0][f'{name}/accuracy/top1'] <= 100.0


def test_resume_restores_teachers(trained: Tuple[
        str, subprocess.CompletedProcess], cifar10_tiny: str,
                                  repo_root: str, tmp_path) -> None:
    work_dir, proc = trained
    assert proc.returncode == 0, proc.stdout[-5000:]
    ckpt_path = osp.join(work_dir, 'epoch_1.pth')
    ckpt = torch.load(ckpt_path, map_location='cpu', weights_only=False)
    saved = ckpt['state_dict']
    assert int(saved['ema_steps']) == 5
    assert int(saved['teacher_init_steps']) == 2
    # after training the teachers differ from their branches
    assert not torch.equal(saved['b0_teacher.head.fc.weight'],
                           saved['b0.head.fc.weight'])
    assert set(ckpt['optimizer']) == {'b0', 'b1'}

    import mmrazor_udskd  # noqa: F401
    from mmengine.config import Config
    from mmengine.runner import Runner

    from mmrazor_udskd.utils import apply_data_root
    cfg = Config.fromfile(osp.join(repo_root, CONFIG))
    apply_data_root(cfg, cifar10_tiny)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].num_workers = 0
        cfg[key].persistent_workers = False
    cfg.train_dataloader.batch_size = 16
    cfg.train_cfg.max_epochs = 1  # already reached: resume, no training
    cfg.work_dir = str(tmp_path)
    cfg.resume = True
    cfg.load_from = ckpt_path
    cfg.env_cfg = dict(dist_cfg=dict(backend='gloo'))
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.epoch == 1 and runner.iter == 7
    model = runner.model
    state = model.state_dict()
    teacher_keys = [k for k in saved if '_teacher.' in k]
    assert len(teacher_keys) > 100
    for key in teacher_keys:
        assert torch.equal(state[key].cpu(), saved[key]), key
    assert int(model.ema_steps) == 5 and int(model.teacher_init_steps) == 2
    assert not model.in_teacher_init
    for name in ('b0', 'b1'):
        assert all(not p.requires_grad
                   for p in getattr(model, f'{name}_teacher').parameters())
    # the resumed optimizers are per branch
    assert set(runner.optim_wrapper.keys()) == {'b0', 'b1'}
