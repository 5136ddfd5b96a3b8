"""No-teacher mode of MultiStudentDistill: Deep Mutual Learning (Zhang et
al., CVPR 2018). The students learn from labels and peers only; no teacher
is built or run."""
import os.path as osp

import mmrazor_udskd  # noqa: F401  isort:skip  (before mmrazor)
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmrazor.registry import MODELS

from ...helpers.udskd_tiny import (NUM_CLASSES, make_batch,
                                               separate_optim,
                                               tiny_classifier)

from ...conftest import REPO_ROOT as REPO
DML = 'configs/dml/dml_resnet18-mobilenet-v2_{}.py'


def _tiny_dml(**kwargs):
    """The shipped CIFAR-10 DML algorithm over tiny nets."""
    model = Config.fromfile(osp.join(REPO, DML.format('1xb64_cifar10')))
    model = model.model.to_dict()
    model.update(students=dict(r18=tiny_classifier(4),
                               mbv2=tiny_classifier(5)),
                 data_preprocessor=dict(
                     type='mmpretrain.ClsDataPreprocessor',
                     num_classes=NUM_CLASSES, mean=[127.5] * 3,
                     std=[64.0] * 3))
    model.update(kwargs)
    torch.manual_seed(0)
    algorithm = MODELS.build(model)
    algorithm.init_weights()
    with torch.no_grad():
        for student in algorithm.students.values():
            student.head.fc.weight.normal_(0, 2.0)
    return algorithm


def test_dml_configs_have_no_teacher():
    for suffix, classes in (('1xb64_cifar10', 10), ('8xb8_in100', 100)):
        cfg = Config.fromfile(osp.join(REPO, DML.format(suffix)))
        model = cfg.model
        assert model.type == 'MultiStudentDistill'
        assert model.teacher is None and model.beta == 0.0
        assert (model.alpha, model.gamma, model.tau) == (0.4, 0.2, 4.0)
        assert list(model.students) == ['r18', 'mbv2']
        assert {s.head.num_classes for s in model.students.values()} == {
            classes}
        assert cfg.optim_wrapper.constructor == \
            'mmrazor.StudentOptimWrapperConstructor'


def test_one_step_is_ce_plus_gamma_tau2_peer_kl_only():
    model = _tiny_dml()
    assert model.teacher is None and model.teacher_loss is None
    assert not any(k.startswith('teacher.') for k in model.state_dict())
    model.train()
    seen = {}

    def record(name):
        def hook(module, args, out):
            seen[name] = out.detach().clone()  # returns None: output kept
        return hook

    for name, student in model.students.items():
        student.register_forward_hook(record(name))
    batch = make_batch(8)
    labels = torch.tensor([s.gt_label.item() for s in batch['data_samples']])
    log = model.train_step(batch, separate_optim(model))
    tau = 4.0
    for name, peer in (('r18', 'mbv2'), ('mbv2', 'r18')):
        s, p = seen[name], seen[peer]
        ce = F.cross_entropy(s, labels)
        p_peer = F.softmax(p / tau, 1)
        kl = (p_peer * (p_peer.log() - F.log_softmax(s / tau, 1))).sum(1)
        torch.testing.assert_close(log[f'{name}.loss_ce'], 0.4 * ce)
        torch.testing.assert_close(log[f'{name}.loss_peer'],
                                   0.2 * tau**2 * kl.mean())
        torch.testing.assert_close(log[f'{name}.loss'],
                                   0.4 * ce + 0.2 * tau**2 * kl.mean())
    # no teacher term, no teacher statistics
    assert set(log) == {'r18.loss_ce', 'r18.loss_peer', 'r18.loss',
                        'mbv2.loss_ce', 'mbv2.loss_peer', 'mbv2.loss',
                        'loss'}


def test_validation_without_teacher():
    model = _tiny_dml(val_teacher=True)
    model.eval()
    data = model.data_preprocessor(make_batch(4), False)
    with torch.no_grad():
        assert list(model.predict_all(**data)) == ['r18', 'mbv2', 'ensemble']


def test_no_teacher_errors_name_the_field():
    with pytest.raises(ValueError, match=r'`model\.beta`=0\.4 .*`model\.teacher`'
                       r' is None'):
        _tiny_dml(beta=0.4)
    with pytest.raises(ValueError,
                       match=r'`model\.student_loss_weights\.mbv2\.beta`'):
        _tiny_dml(student_loss_weights=dict(mbv2=dict(beta=0.1)))
    with pytest.raises(ValueError, match=r'`model\.teacher_ckpt`=.*is set but'
                       r' `model\.teacher` is None'):
        _tiny_dml(teacher_ckpt='t.pth')


@pytest.mark.slow
def test_dml_trains_one_epoch_through_train_cli(synthetic_cifar10, train_cli,
                                                tmp_path):
    work_dir = str(tmp_path / 'work')
    proc = train_cli(DML.format('1xb64_cifar10'), work_dir,
                     f'data_root={synthetic_cifar10}',
                     'train_cfg.max_epochs=1', 'train_dataloader.batch_size=8',
                     'val_dataloader.batch_size=10')
    log = proc.stdout
    assert proc.returncode == 0, log[-5000:]
    assert 'Epoch(train) [1][3/3]' in log
    for key in ('r18.loss_ce', 'r18.loss_peer', 'mbv2.loss',
                'r18/accuracy/top1', 'mbv2/accuracy/top1',
                'ensemble/accuracy/top1'):
        assert f'{key}: ' in log, key
    for absent in ('loss_teacher', 'stats.', 'teacher/accuracy'):
        assert absent not in log, absent
    ckpt = torch.load(osp.join(work_dir, 'epoch_1.pth'), map_location='cpu',
                      weights_only=False)
    assert not any(k.startswith('teacher.') for k in ckpt['state_dict'])
    assert set(ckpt['optimizer']) == {'r18', 'mbv2'}
    assert osp.isfile(osp.join(work_dir, 'best_r18_accuracy_top1_epoch_1.pth'))
