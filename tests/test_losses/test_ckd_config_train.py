"""Train the CIFAR-10 CKD config for one epoch on 100 real images (CPU)."""
import os.path as osp
import re

CONFIG = 'configs/ckd/ckd_logits_resnet50_resnet18_1xb64_cifar10.py'


def test_ckd_cifar10_one_epoch(train_cli, cifar10_tiny, tmp_path):
    proc = train_cli(CONFIG, str(tmp_path), f'data_root={cifar10_tiny}', 'model.teacher_ckpt=random',
                     'train_cfg.max_epochs=1',
                     'train_dataloader.batch_size=16')
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert osp.isfile(osp.join(str(tmp_path), 'epoch_1.pth'))
    log = proc.stdout
    # the distiller's loss key, with a finite positive value, per iteration
    values = [float(v) for v in
              re.findall(r'distill\.loss_ckd: ([0-9.]+)', log)]
    assert values, log[-4000:]
    assert all(v > 0 for v in values)
    assert 'accuracy/top1' in log
