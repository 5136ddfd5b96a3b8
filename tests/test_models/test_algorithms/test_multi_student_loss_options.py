"""MultiStudentDistill's loss options and finite checks: the teacher term
with weighting 'none', CKD as the teacher term, equality with MMRazor's
built-in KD, and NaN logits or losses stopping a step before any update."""
import copy
import os.path as osp
from typing import Dict

import mmrazor_udskd  # noqa: F401  isort:skip  (before mmrazor)
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmrazor.registry import MODELS

from ...helpers.udskd_tiny import (TAU, algorithm_cfg, build_algorithm,
                                   make_batch, record_logits, ref_kl,
                                   separate_optim, tiny_classifier)

from ...conftest import REPO_ROOT as REPO
KD = 'configs/kd/kd_logits_resnet50_resnet18_1xb64_cifar10.py'


def test_weighting_none_and_no_peer_configs():
    model = build_algorithm(
        teacher_loss=dict(type='EntropyWeightedKDLoss', weighting='none'),
        gamma=0.0)
    model.train()
    seen = record_logits(model)
    log = model.train_step(make_batch(8), separate_optim(model))
    t, s = seen['teacher'][0], seen['r18'][0]
    torch.testing.assert_close(log['r18.loss_teacher'],
                               0.4 * ref_kl(s, t).mean())
    assert log['r18.loss_peer'] == 0 and log['mbv2.loss_peer'] == 0
    torch.testing.assert_close(log['stats.weight_mean'], torch.tensor(1.0))
    # tau reaches the losses that take one unless set there
    assert model.teacher_loss.tau == TAU and model.peer_loss.tau == TAU
    other = build_algorithm(tau=2.0,
                            peer_loss=dict(type='PeerKLLoss', tau=3.0))
    assert other.teacher_loss.tau == 2.0 and other.peer_loss.tau == 3.0


def np_ckd(t: torch.Tensor, s: torch.Tensor, temp: float = 1.0) -> float:
    """CKD (arXiv 2404.14109) written out in NumPy: the mean over rows of
    -log softmax_j(cos(t_i, s_j) / T) at j = i."""
    t_np, s_np = t.double().numpy(), s.double().numpy()
    t_hat = t_np / np.linalg.norm(t_np, axis=1, keepdims=True)
    s_hat = s_np / np.linalg.norm(s_np, axis=1, keepdims=True)
    sim = t_hat @ s_hat.T / temp
    rows = [np.log(np.exp(sim[i]).sum()) - sim[i, i]
            for i in range(sim.shape[0])]
    return float(np.mean(rows))


def test_ckd_as_teacher_loss():
    """CKD as the teacher term: beta times the contrastive loss of the
    teacher's rows against the student's columns, per student."""
    model = build_algorithm(
        teacher_loss=dict(type='ContrastiveLogitKDLoss'))
    model.train()
    seen = record_logits(model)
    log = model.train_step(make_batch(8), separate_optim(model))
    t = seen['teacher'][0]
    for name in ('r18', 'mbv2'):
        s = seen[name][0]
        expected = 0.4 * np_ckd(t, s)
        assert float(log[f'{name}.loss_teacher']) == pytest.approx(
            expected, rel=1e-5), name
        # the teacher is the anchor: swapping the roles gives another value
        assert abs(0.4 * np_ckd(s, t) - expected) > 1e-4
    # no confidence weights without EntropyWeightedKDLoss
    assert 'stats.weight_mean' not in log or float(
        log['stats.weight_mean']) == 1.0


def _kd_single_teacher(student: dict, teacher: dict,
                       data_preprocessor: dict):
    """The shipped built-in KD config's algorithm (KLDivergence, tau 4,
    weight .7), as MMRazor's own ``SingleTeacherDistill``, over tiny nets."""
    model = Config.fromfile(osp.join(REPO, KD)).model.to_dict()
    assert model['distiller']['distill_losses']['loss_kl'] == dict(
        type='KLDivergence', tau=4, loss_weight=0.7)
    model.update(type='SingleTeacherDistill', architecture=student,
                 teacher=teacher, data_preprocessor=data_preprocessor)
    model.pop('teacher_ckpt')
    return MODELS.build(model)


def test_equals_mmrazor_kd_with_weighting_none_and_no_peer():
    """weighting 'none', gamma 0, alpha .3, beta .7 (tau 4): each student's
    losses and its weights after one SGD step are those of MMRazor's
    SingleTeacherDistill + KLDivergence with the same teacher."""
    model = build_algorithm(
        alpha=0.3, beta=0.7, gamma=0.0,
        teacher_loss=dict(type='EntropyWeightedKDLoss', weighting='none'))
    cfg = algorithm_cfg()
    kd = _kd_single_teacher(tiny_classifier(4, ce_weight=0.3),
                            tiny_classifier(8), cfg['data_preprocessor'])
    kd.architecture.load_state_dict(model.students['r18'].state_dict())
    kd.teacher.load_state_dict(model.teacher.state_dict())
    model.train()
    kd.train()
    batch = make_batch(8)
    log = model.train_step(copy.deepcopy(batch), separate_optim(model))
    kd_log = kd.train_step(copy.deepcopy(batch), OptimWrapper(
        torch.optim.SGD(kd.architecture.parameters(), lr=0.1,
                        momentum=0.9)))
    assert float(log['r18.loss_teacher']) > 0.1
    torch.testing.assert_close(log['r18.loss_ce'], kd_log['student.loss'])
    torch.testing.assert_close(log['r18.loss_teacher'],
                               kd_log['distill.loss_kl'])
    torch.testing.assert_close(log['r18.loss'], kd_log['loss'])
    assert float(log['r18.loss_peer']) == 0.0
    after = model.students['r18'].state_dict()
    for key, value in kd.architecture.state_dict().items():
        torch.testing.assert_close(after[key], value, atol=1e-6, rtol=1e-5,
                                   msg=key)
    # the step moved the weights (same seed: the initial ones)
    init = build_algorithm().students['r18'].state_dict()
    assert not torch.equal(after['head.fc.weight'], init['head.fc.weight'])


def _weights(module: torch.nn.Module) -> Dict[str, torch.Tensor]:
    """Parameters only (the forward updates BN statistics by design)."""
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def _poison(module: torch.nn.Module) -> None:
    """NaN in the module's output, from now on."""
    module.register_forward_hook(lambda mod, args, out: out * float('nan'))


def test_nan_teacher_logits_stop_the_step_before_any_update():
    model = build_algorithm()
    model.train()
    before = {n: _weights(s) for n, s in model.students.items()}
    _poison(model.teacher)
    with pytest.raises(FloatingPointError,
                       match=r'non-finite logits .* from the teacher '
                       r'\(40 of 40 values NaN/inf\)'):
        model.train_step(make_batch(8), separate_optim(model))
    for name, student in model.students.items():
        for key, value in _weights(student).items():
            assert torch.equal(value, before[name][key]), (name, key)


def test_nan_loss_stops_the_step_and_check_finite_false_goes_on():
    for check in (True, False):
        model = build_algorithm(check_finite=check)
        model.train()
        # finite logits, a NaN teacher term for every student
        model.teacher_loss.forward = \
            lambda preds, target, **kw: preds.sum() * float('nan')
        before = _weights(model.students['r18'])
        if check:
            with pytest.raises(FloatingPointError,
                               match=r'non-finite loss .*r18\.loss=nan'):
                model.train_step(make_batch(8), separate_optim(model))
            after = _weights(model.students['r18'])
            assert all(torch.equal(after[k], v) for k, v in before.items())
        else:
            log = model.train_step(make_batch(8), separate_optim(model))
            assert torch.isnan(log['r18.loss'])
            after = _weights(model.students['r18'])
            # the update happened (with NaN gradients)
            assert torch.isnan(after['head.fc.weight']).all()
