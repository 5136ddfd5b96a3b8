"""End to end: tools/train.py with the CIFAR-10 dual-student config on real
CIFAR-10 images, then --resume (UDSKD, arXiv 2511.18826)."""
import os.path as osp

import mmrazor_udskd  # noqa: F401  isort:skip  (before mmrazor)
import pytest
import torch
from mmengine.config import Config
from mmrazor.registry import MODELS

from ...conftest import REPO_ROOT

CONFIG = ('configs/udskd/'
          'udskd_logits_resnet50_resnet18-mobilenet-v2_1xb64_cifar10.py')
# a few iterations: 48 of the 100 train images (3 batches of 16) and 40 of
# the 100 test images
SMALL = [
    'train_dataloader.batch_size=16', 'train_dataloader.dataset.indices=48',
    'val_dataloader.batch_size=20', 'val_dataloader.dataset.indices=40'
]


def _state(path: str) -> dict:
    return torch.load(path, map_location='cpu')['state_dict']


@pytest.mark.slow
def test_udskd_cifar10_train_and_resume(cifar10_tiny, train_cli, repo_root,
                                        tmp_path):
    # an explicit initial state (students and teacher), so "changed" and
    # "unchanged" are exact comparisons
    cfg = Config.fromfile(osp.join(repo_root, CONFIG))
    model_cfg = cfg.model.copy()
    model_cfg.data_preprocessor = cfg.data_preprocessor
    model_cfg.teacher_ckpt = 'random'  # saved below, then passed by path
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    init = str(tmp_path / 'init.pth')
    torch.save({'state_dict': model.state_dict()}, init)
    teacher_ckpt = str(tmp_path / 'teacher.pth')
    torch.save({'state_dict': model.teacher.state_dict(), 'meta': {}},
               teacher_ckpt)
    del model

    work_dir = str(tmp_path / 'work')
    proc = train_cli(CONFIG, work_dir, f'data_root={cifar10_tiny}',
                     'train_cfg.max_epochs=1', f'load_from={init}',
                     f'model.teacher_ckpt={teacher_ckpt}', *SMALL)
    assert proc.returncode == 0, proc.stdout[-5000:]
    log = proc.stdout
    assert 'Epoch(train) [1][3/3]' in log
    for key in ('r18.loss_ce', 'r18.loss_teacher', 'r18.loss_peer',
                'mbv2.loss', 'stats.weight_mean', 'stats.uncertain_ratio'):
        assert f'{key}: ' in log, key
    for key in ('r18/accuracy/top1', 'mbv2/accuracy/top5',
                'ensemble/accuracy/top1', 'teacher/accuracy/top1'):
        assert f'{key}: ' in log, key
    assert osp.isfile(osp.join(work_dir, 'best_r18_accuracy_top1_epoch_1.pth'))

    before = _state(init)
    ckpt = torch.load(osp.join(work_dir, 'epoch_1.pth'), map_location='cpu')
    after = ckpt['state_dict']
    assert set(after) == set(before)
    for name in ('r18', 'mbv2'):
        weights = [k for k in before
                   if k.startswith(f'{name}.') and k.endswith('.weight')]
        assert weights
        changed = [k for k in weights if not torch.equal(before[k], after[k])]
        assert len(changed) == len(weights), (name, set(weights) - set(
            changed))
    teacher = [k for k in before if k.startswith('teacher.')]
    assert teacher
    for k in teacher:  # weights and BN running statistics
        assert torch.equal(before[k], after[k]), k
    # one optimizer state per student name
    assert set(ckpt['optimizer']) == {'r18', 'mbv2'}

    proc2 = train_cli(CONFIG, work_dir, f'data_root={cifar10_tiny}',
                      'train_cfg.max_epochs=2', *SMALL,
                      extra_args=['--resume'])
    assert proc2.returncode == 0, proc2.stdout[-5000:]
    assert 'resumed epoch: 1' in proc2.stdout
    assert 'Epoch(train) [2][3/3]' in proc2.stdout
    assert 'Epoch(train) [1]' not in proc2.stdout
    assert 'Epoch(val) [2]' in proc2.stdout
    epoch2 = _state(osp.join(work_dir, 'epoch_2.pth'))
    assert not torch.equal(epoch2['r18.head.fc.weight'],
                           after['r18.head.fc.weight'])
    assert torch.equal(epoch2['teacher.head.fc.weight'],
                       before['teacher.head.fc.weight'])


@pytest.mark.slow
def test_activation_checkpoint_from_the_command_line(cifar10_tiny, train_cli,
                                                     tmp_path):
    """What a user types: --cfg-options model.activation_checkpoint.mbv2=[..]
    on tools/train.py. The run trains, the checkpoint has the plain keys,
    and a recomputed block's BatchNorm counted each of the 3 batches once."""
    work_dir = str(tmp_path / 'work')
    proc = train_cli(CONFIG, work_dir, f'data_root={cifar10_tiny}',
                     'train_cfg.max_epochs=1', *SMALL, 'model.teacher_ckpt=random',
                     'model.activation_checkpoint.mbv2='
                     '[backbone.conv1,backbone.layer*.*]')
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert 'Epoch(train) [1][3/3]' in proc.stdout
    assert 'mbv2.loss: ' in proc.stdout
    # conv1 and the 17 inverted-residual blocks
    assert ("activation checkpoint: student 'mbv2' recomputes 18 submodules "
            'in the backward (backbone.conv1 ... backbone.layer7.0)'
            ) in proc.stdout
    after = _state(osp.join(work_dir, 'epoch_1.pth'))
    cfg = Config.fromfile(osp.join(REPO_ROOT, CONFIG))
    plain = MODELS.build(dict(cfg.model, teacher_ckpt='random',
                              data_preprocessor=cfg.data_preprocessor))
    assert set(after) == set(plain.state_dict())
    for key in ('mbv2.backbone.conv1.bn.num_batches_tracked',
                'mbv2.backbone.layer2.0.conv.0.bn.num_batches_tracked',
                'r18.backbone.bn1.num_batches_tracked'):
        assert int(after[key]) == 3, key
