"""Train the CIFAR-10 CKD config for one epoch on 48 real images (CPU)."""
import math
import os.path as osp
import re

import pytest

pytestmark = pytest.mark.slow  # trains through tools/train.py

CONFIG = 'configs/ckd/ckd_logits_resnet50_resnet18_1xb64_cifar10.py'
BATCH = 16
WEIGHT = 100.0  # the config's loss_ckd.loss_weight (temperature 1)


def test_ckd_cifar10_one_epoch(train_cli, cifar10_tiny, tmp_path):
    proc = train_cli(CONFIG, str(tmp_path), f'data_root={cifar10_tiny}',
                     'model.teacher_ckpt=random',
                     'train_cfg.max_epochs=1',
                     f'train_dataloader.batch_size={BATCH}',
                     'train_dataloader.dataset.indices=48',
                     'val_dataloader.dataset.indices=20')
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert osp.isfile(osp.join(str(tmp_path), 'epoch_1.pth'))
    log = proc.stdout
    # the distiller's loss key, one value per iteration (3 full batches)
    values = [float(v) for v in
              re.findall(r'distill\.loss_ckd: ([0-9.]+)', log)]
    assert len(values) == 3, log[-4000:]
    # each row's term is logsumexp_j(c_ij) - c_ii with cosines c in
    # [-1, 1]: between log(1 + (B - 1) e^-2) and log(B) + 2, times the
    # weight; a lost loss_weight, a sum instead of a mean or NaN falls out
    low = WEIGHT * math.log(1 + (BATCH - 1) * math.exp(-2))
    high = WEIGHT * (math.log(BATCH) + 2)
    assert all(low <= v <= high for v in values), (low, values, high)
    # the student's own CE is logged next to it; at initialisation it is
    # near log(10), the CE of a uniform guess over CIFAR-10's classes
    ce = [float(v) for v in re.findall(r'student\.loss: ([0-9.]+)', log)]
    assert len(ce) == 3, log[-4000:]
    assert abs(ce[0] - math.log(10)) < 0.5, ce
    assert 'accuracy/top1' in log
