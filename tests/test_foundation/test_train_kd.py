"""MMRazor's built-in KD trains through our tools/train.py on real images,
writes a checkpoint, validates, and resumes."""
import json
import os.path as osp

import pytest
import torch

KD_CFG = 'configs/kd/kd_logits_resnet50_resnet18_1xb64_cifar10.py'


def last_scalars(work_dir: str) -> dict:
    """The last logged validation record of an mmengine work_dir."""
    import glob
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    assert files, f'no scalars.json under {work_dir}'
    records = [json.loads(line) for line in open(files[-1])]
    vals = [r for r in records if 'accuracy/top1' in r]
    assert vals, 'no validation record'
    return vals[-1]


@pytest.fixture(scope='module')
def kd_run(cifar10_tiny, train_cli, tmp_path_factory):
    work_dir = str(tmp_path_factory.mktemp('kd'))
    proc = train_cli(KD_CFG, work_dir, f'data_root={cifar10_tiny}', 'model.teacher_ckpt=random',
                     'train_cfg.max_epochs=1',
                     'train_dataloader.batch_size=16')
    assert proc.returncode == 0, proc.stdout[-3000:]
    return work_dir, proc


def test_kd_one_epoch_checkpoint_and_top1(kd_run):
    work_dir, proc = kd_run
    ckpt = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(ckpt)
    state = torch.load(ckpt, map_location='cpu')  # weights-only default
    keys = state['state_dict'].keys()
    assert any(k.startswith('architecture.backbone.') for k in keys)
    assert any(k.startswith('teacher.backbone.') for k in keys)
    assert state['meta']['epoch'] == 1
    record = last_scalars(work_dir)
    # 100 test images: top-1 is a multiple of 1 % in [0, 100]
    assert 0.0 <= record['accuracy/top1'] <= 100.0
    assert record['accuracy/top1'] <= record['accuracy/top5']
    assert 'teacher.accuracy/top1' in record
    assert 'distill.loss_kl' in proc.stdout


def test_kd_resume_continues_from_checkpoint(kd_run, train_cli,
                                             cifar10_tiny):
    work_dir, _ = kd_run
    proc = train_cli(KD_CFG, work_dir, f'data_root={cifar10_tiny}', 'model.teacher_ckpt=random',
                     'train_cfg.max_epochs=2',
                     'train_dataloader.batch_size=16',
                     extra_args=['--resume'])
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert 'resumed epoch: 1' in proc.stdout
    assert 'Epoch(train) [2]' in proc.stdout
    assert 'Epoch(train) [1]' not in proc.stdout
    state = torch.load(osp.join(work_dir, 'epoch_2.pth'), map_location='cpu')
    assert state['meta']['epoch'] == 2
