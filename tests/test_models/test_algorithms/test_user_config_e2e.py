"""What a user writes: a config of a few lines on top of the shipped CIFAR-10
UDSKD config with three students of free names and different architectures,
trained and validated through tools/train.py."""
import os.path as osp

import mmrazor_udskd  # noqa: F401  isort:skip  (before mmrazor)
import pytest
import torch

BASE = ('configs/udskd/'
        'udskd_logits_resnet50_resnet18-mobilenet-v2_1xb64_cifar10.py')
# the whole user config (10 lines); {base} is the shipped config's path
USER_CONFIG = """\
_base_ = '{base}'
net = dict(_scope_='mmpretrain', type='ImageClassifier', neck=dict(type='GlobalAveragePooling'))
model = dict(students=dict(
    _delete_=True,
    res34=dict(net, backbone=dict(type='ResNet_CIFAR', depth=34, base_channels=8, stem_channels=8), head=dict(type='LinearClsHead', num_classes=10, in_channels=64)),
    shuf=dict(net, backbone=dict(type='ShuffleNetV2', widen_factor=0.5), head=dict(type='LinearClsHead', num_classes=10, in_channels=1024)),
    mbv2=dict(net, backbone=dict(type='MobileNetV2_CIFAR', widen_factor=0.25), head=dict(type='LinearClsHead', num_classes=10, in_channels=1280)),
))
optim_wrapper = dict(mbv2=dict(optimizer=dict(lr=0.05)))  # MobileNetV2's own lr
"""  # noqa: E501
NAMES = ('res34', 'shuf', 'mbv2')
# 20 synthetic train images in 3 batches of 8, 10 test images; the R50
# teacher at quarter width keeps it cheap
SMALL = ['train_dataloader.batch_size=8', 'val_dataloader.batch_size=10',
         'model.teacher.backbone.base_channels=16',
         'model.teacher.backbone.stem_channels=16',
         'model.teacher.head.in_channels=512']


@pytest.mark.slow
def test_three_free_named_students_train_and_validate(
        synthetic_cifar10, train_cli, repo_root, tmp_path):
    user_cfg = tmp_path / 'my_udskd.py'
    user_cfg.write_text(USER_CONFIG.format(base=osp.join(repo_root, BASE)))
    assert len(USER_CONFIG.strip().splitlines()) <= 10
    work_dir = str(tmp_path / 'work')
    proc = train_cli(str(user_cfg), work_dir,
                     f'data_root={synthetic_cifar10}',
                     'train_cfg.max_epochs=1', *SMALL,
                     # a user passes the trained teacher here; the test
                     # opts in to a random one
                     'model.teacher_ckpt=random')
    log = proc.stdout
    assert proc.returncode == 0, log[-5000:]
    assert 'Epoch(train) [1][3/3]' in log
    for name in NAMES:
        for key in ('loss_ce', 'loss_teacher', 'loss_peer', 'loss'):
            assert f'{name}.{key}: ' in log, (name, key)
        for key in ('accuracy/top1', 'accuracy/top5'):
            assert f'{name}/{key}: ' in log, (name, key)
    assert 'ensemble/accuracy/top1: ' in log
    assert 'teacher/accuracy/top1: ' in log
    # save_best='auto' follows the first student
    assert osp.isfile(osp.join(work_dir,
                               'best_res34_accuracy_top1_epoch_1.pth'))
    ckpt = torch.load(osp.join(work_dir, 'epoch_1.pth'), map_location='cpu',
                      weights_only=False)
    assert set(ckpt['optimizer']) == set(NAMES)
    lrs = {name: ckpt['optimizer'][name]['param_groups'][0]['initial_lr']
           for name in NAMES}
    assert lrs == dict(res34=0.1, shuf=0.1, mbv2=0.05)
    backbones = {k.split('.')[0] for k in ckpt['state_dict']
                 if '.backbone.' in k}
    assert backbones == {*NAMES, 'teacher'}
