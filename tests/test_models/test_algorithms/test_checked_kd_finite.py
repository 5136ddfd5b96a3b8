"""CheckedSingleTeacherDistill (the KD/DKD/CKD configs' algorithm) stops a
step whose loss is NaN/inf before the optimizer updates anything, naming the
loss terms; finite steps are MMRazor's ``SingleTeacherDistill`` unchanged."""
import copy
import os.path as osp

import mmrazor_udskd  # noqa: F401  isort:skip  (before mmrazor)
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper
from mmrazor.registry import MODELS

from ...conftest import REPO_ROOT as REPO
from ...helpers.udskd_tiny import make_batch, tiny_classifier

KD = 'configs/kd/kd_logits_resnet50_resnet18_1xb64_cifar10.py'


def _kd(type_: str = 'CheckedSingleTeacherDistill', **kwargs):
    """The shipped KD config's algorithm over tiny nets, same init."""
    model = Config.fromfile(osp.join(REPO, KD)).model.to_dict()
    model.update(type=type_, architecture=tiny_classifier(4),
                 teacher=tiny_classifier(8),
                 data_preprocessor=dict(type='ImgDataPreprocessor'),
                 **kwargs)
    model.pop('teacher_ckpt')
    if type_ != 'SingleTeacherDistill':
        model['teacher_ckpt'] = 'random'
    torch.manual_seed(0)
    algo = MODELS.build(model)
    algo.init_weights()
    return algo


def _sgd(algo) -> OptimWrapper:
    return OptimWrapper(torch.optim.SGD(algo.architecture.parameters(),
                                        lr=0.1, momentum=0.9))


def test_finite_step_equals_mmrazor():
    checked, plain = _kd(), _kd('SingleTeacherDistill')
    plain.load_state_dict(checked.state_dict())
    batch = make_batch(8)
    log = checked.train_step(copy.deepcopy(batch), _sgd(checked))
    ref = plain.train_step(copy.deepcopy(batch), _sgd(plain))
    assert set(log) == set(ref) == {'loss', 'student.loss', 'distill.loss_kl'}
    for key in ref:
        torch.testing.assert_close(log[key], ref[key])
    assert float(log['distill.loss_kl']) > 0
    for (name, a), b in zip(checked.architecture.state_dict().items(),
                            plain.architecture.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)


def test_nan_loss_stops_before_the_update():
    algo = _kd()
    with torch.no_grad():
        algo.architecture.head.fc.weight[0, 0] = float('nan')
    # parameters (BN running statistics move in any forward pass)
    before = {k: v.detach().clone()
              for k, v in algo.architecture.named_parameters()}
    hub = MessageHub.get_current_instance()
    hub.update_info('iter', 6)
    hub.update_info('epoch', 1)
    try:
        with pytest.raises(FloatingPointError) as err:
            algo.train_step(make_batch(8), _sgd(algo))
    finally:
        hub.runtime_info.pop('iter', None)
        hub.runtime_info.pop('epoch', None)
    message = str(err.value)
    assert 'at iteration 7 (epoch 2)' in message
    assert 'student.loss=nan' in message and 'distill.loss_kl=nan' in message
    after = dict(algo.architecture.named_parameters())
    for key, value in before.items():
        assert torch.equal(torch.nan_to_num(value),
                           torch.nan_to_num(after[key].detach())), key


def test_check_finite_false_keeps_mmrazor_behaviour():
    algo = _kd(check_finite=False)
    with torch.no_grad():
        algo.architecture.head.fc.weight[0, 0] = float('inf')
    log = algo.train_step(make_batch(8), _sgd(algo))
    assert not torch.isfinite(log['loss'])
