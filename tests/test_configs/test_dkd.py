"""DKD baselines: MMRazor's DKDLoss in SingleTeacherDistill with the DKD
paper's CIFAR settings (alpha 1, beta 8, tau 4, CE 1) and its linear
warm-up (DistillLossWarmupHook), for CIFAR-10 and CIFAR-100."""
import glob
import json
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

import mmrazor_udskd  # noqa: F401  isort:skip  (before mmrazor)
from mmrazor_udskd.engine.hooks import DistillLossWarmupHook, warmup_factor
from tests.test_configs._tiny import (cfg_path, kd_models, tiny_net,
                                      write_config, write_image_tree)

DKD = {
    f'dkd/dkd_logits_resnet50_{net}_1xb64_{ds}.py': (net, ds)
    for net in ('resnet18', 'mobilenet-v2') for ds in ('cifar10', 'cifar100')
}


def test_warmup_factor():
    assert warmup_factor(0, 20) == pytest.approx(1 / 20)  # epoch 1 of 20
    assert warmup_factor(9, 20) == pytest.approx(0.5)
    assert warmup_factor(19, 20) == 1.0
    assert warmup_factor(45, 20) == 1.0
    assert warmup_factor(0, 0) == 1.0


def test_dkd_configs():
    from mmengine.config import Config
    found = {osp.relpath(p, cfg_path('')) for p in
             glob.glob(cfg_path('dkd/*.py'))}
    assert found == set(DKD)
    for rel, (net, ds) in DKD.items():
        cfg = Config.fromfile(cfg_path(rel))
        # the student baseline of the same net and data set, beside KD's
        kd = Config.fromfile(cfg_path(rel.replace('dkd/dkd', 'kd/kd')))
        # MMRazor's SingleTeacherDistill with the trained-teacher check
        assert cfg.model.type == 'CheckedSingleTeacherDistill'
        loss = cfg.model.distiller.distill_losses.loss_dkd
        assert loss.type == 'DKDLoss'
        assert (loss.alpha, loss.beta, loss.tau, loss.loss_weight) == (
            1.0, 8.0, 4.0, 1.0)
        assert cfg.model.architecture.head.loss.loss_weight == 1.0  # CE
        assert cfg.model.architecture.backbone == \
            kd.model.architecture.backbone
        assert cfg.model.architecture.head.num_classes == \
            kd.model.architecture.head.num_classes == \
            cfg.model.teacher.head.num_classes
        assert cfg.train_dataloader.dataset.type == \
            kd.train_dataloader.dataset.type
        hooks = [h.type for h in cfg.custom_hooks]
        assert hooks == [h.type for h in kd.custom_hooks] + [
            'DistillLossWarmupHook']
        assert cfg.custom_hooks[-1].warmup_epochs == 20
        assert cfg.custom_hooks[-1].loss_names == ['loss_dkd']


def test_lowdata_dkd_configs_keep_the_dkd_recipe():
    """The low-data protocol's DKD row (configs/lowdata_cifar10/) inherits
    its KD configs, not configs/dkd/: it must still carry DKD's settings
    and warm-up (without the warm-up its MobileNetV2 student's loss is NaN
    within the first epoch)."""
    from mmengine.config import Config
    found = sorted(glob.glob(cfg_path('lowdata_cifar10/dkd_*.py')))
    assert len(found) == 2, found
    for path in found:
        cfg = Config.fromfile(path)
        kd = Config.fromfile(path.replace('/dkd_', '/kd_'))
        loss = cfg.model.distiller.distill_losses
        assert list(loss) == ['loss_dkd']
        assert (loss.loss_dkd.alpha, loss.loss_dkd.beta, loss.loss_dkd.tau,
                loss.loss_dkd.loss_weight) == (1.0, 8.0, 4.0, 1.0)
        assert cfg.model.architecture.head.loss.loss_weight == 1.0  # CE
        assert cfg.model.architecture.backbone == \
            kd.model.architecture.backbone
        assert [h.type for h in cfg.custom_hooks] == [
            h.type for h in kd.custom_hooks] + ['DistillLossWarmupHook']
        warmup = cfg.custom_hooks[-1]
        assert (warmup.warmup_epochs, warmup.loss_names) == (20,
                                                             ['loss_dkd'])


def dkd_reference(z_s, z_t, y, alpha, beta, tau):
    """DKD written out (arXiv 2203.08679, Eq. 7): alpha * TCKD + beta * NCKD,
    both KL(teacher || student) * tau^2, batch mean."""
    p_s, p_t = F.softmax(z_s / tau, 1), F.softmax(z_t / tau, 1)
    onehot = F.one_hot(y, z_s.size(1)).bool()
    b_s = torch.stack([p_s[onehot], 1 - p_s[onehot]], 1)
    b_t = torch.stack([p_t[onehot], 1 - p_t[onehot]], 1)
    tckd = (b_t * (b_t.log() - b_s.log())).sum(1).mean()
    keep = ~onehot
    n_s = F.softmax(z_s[keep].view(len(y), -1) / tau, 1)
    n_t = F.softmax(z_t[keep].view(len(y), -1) / tau, 1)
    nckd = (n_t * (n_t.log() - n_s.log())).sum(1).mean()
    return (alpha * tckd + beta * nckd) * tau**2


def test_dkd_loss_and_warmup_on_the_built_model():
    from mmengine.config import Config
    from mmengine.logging import MessageHub
    from mmpretrain.structures import DataSample
    from mmrazor.registry import MODELS
    cfg = Config.fromfile(cfg_path('dkd/dkd_logits_resnet50_resnet18_'
                                   '1xb64_cifar100.py'))
    cfg.model.architecture = tiny_net(4, 100, replace=False)
    cfg.model.teacher = tiny_net(8, 100, replace=False)
    cfg.model.teacher_ckpt = 'random'  # weights set below
    cfg.model.data_preprocessor = cfg.data_preprocessor
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():  # spread the logits
        for net in (model.student, model.teacher):
            net.head.fc.weight.normal_(0, 3.0)
    model.eval()  # BatchNorm on running statistics: repeatable logits
    labels = [3, 17, 99, 0, 42, 3]
    gen = torch.Generator().manual_seed(1)
    data = model.data_preprocessor(dict(
        inputs=[torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8,
                              generator=gen) for _ in labels],
        data_samples=[DataSample().set_gt_label(y) for y in labels]))
    inputs, samples = data['inputs'], data['data_samples']
    hook = DistillLossWarmupHook(['loss_dkd'], warmup_epochs=20)
    runner = SimpleNamespace(model=model, epoch=0,
                             message_hub=MessageHub.get_instance('dkd-t'))
    hook.before_train(runner)
    with torch.no_grad():
        z_s = model.student(inputs, mode='tensor')
        z_t = model.teacher(inputs, mode='tensor')
    ref = dkd_reference(z_s, z_t, torch.tensor(labels), 1.0, 8.0, 4.0)
    assert ref > 0.1
    for epoch, factor in ((0, 0.05), (9, 0.5), (19, 1.0), (30, 1.0)):
        runner.epoch = epoch
        hook.before_train_epoch(runner)
        with torch.no_grad():
            losses = model.loss(inputs, samples)
        assert losses['distill.loss_dkd'].item() == pytest.approx(
            factor * ref.item(), rel=1e-4)
        assert runner.message_hub.get_scalar(
            'train/distill_warmup').current() == pytest.approx(factor)
    with pytest.raises(KeyError, match='loss_kl'):
        DistillLossWarmupHook(['loss_kl']).before_train(runner)


@pytest.mark.slow
def test_dkd_one_epoch(tmp_path, train_cli):
    data = str(tmp_path / 'data')
    write_image_tree(data, {'train': 2, 'test': 1}, num_classes=10)
    config = write_config(
        str(tmp_path / 'dkd.py'),
        [cfg_path('dkd/dkd_logits_resnet50_resnet18_1xb64_cifar10.py')],
        kd_models(10))
    work_dir = str(tmp_path / 'work')
    proc = train_cli(config, work_dir, f'data_root={data}')
    assert proc.returncode == 0, proc.stdout[-3000:]
    path = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))[0]
    with open(path) as f:
        rows = [json.loads(line) for line in f]
    train_rows = [r for r in rows if 'distill.loss_dkd' in r]
    assert len(train_rows) == 3  # 20 images, batch 8
    for row in train_rows:
        assert row['distill_warmup'] == pytest.approx(0.05)
        assert row['distill.loss_dkd'] > 0
        assert row['student.loss'] > 0
    val = [r for r in rows if 'accuracy/top1' in r]
    assert len(val) == 1 and 0 <= val[0]['accuracy/top1'] <= 100
