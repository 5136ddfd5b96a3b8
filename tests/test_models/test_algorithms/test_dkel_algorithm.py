"""DecoupledOnlineDistill on tiny CPU classifiers: EMA, teacher
initialisation, loss values, predictions, optimizer wrappers."""
import copy
import math
from typing import Dict, List, Optional

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import mmrazor_udskd  # noqa: F401
from mmengine.optim import OptimWrapper, OptimWrapperDict, build_optim_wrapper
from mmpretrain.structures import DataSample

from mmrazor.registry import MODELS
from mmrazor_udskd.models.algorithms.decoupled_online_distill import \
    DecoupledOnlineDistill
from mmrazor_udskd.models.losses.dkel_functional import soft_kd_loss

NUM_CLASSES = 5


class TinyCls(nn.Module):
    """A classifier with the ImageClassifier call signature and a BN."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, NUM_CLASSES)

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        x = F.relu(self.bn(self.conv(inputs))).mean((2, 3))
        logits = self.fc(x)
        if mode == 'tensor':
            return logits
        assert mode == 'predict'
        out = []
        for i, ds in enumerate(data_samples):
            ds.set_pred_score(logits[i].softmax(0)).set_pred_label(
                logits[i].argmax(0, keepdim=True))
            out.append(ds)
        return out


def build(n: int = 2, **kwargs) -> DecoupledOnlineDistill:
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='DecoupledOnlineDistill',
            branches={f'b{i}': TinyCls()
                      for i in range(n)},
            data_preprocessor=dict(
                type='mmpretrain.ClsDataPreprocessor',
                num_classes=NUM_CLASSES,
                mean=[0, 0, 0],
                std=[255, 255, 255]),
            **kwargs))
    model.init_weights()
    return model


def batch(seed: int = 0, n: int = 6) -> dict:
    g = torch.Generator().manual_seed(seed)
    return dict(
        inputs=[
            torch.randint(0, 256, (3, 8, 8), generator=g, dtype=torch.uint8)
            for _ in range(n)
        ],
        data_samples=[
            DataSample().set_gt_label(i % NUM_CLASSES) for i in range(n)
        ])


def optim(model: DecoupledOnlineDistill, lr: float = 0.1,
          wd: float = 1e-3) -> OptimWrapperDict:
    return OptimWrapperDict(
        **{
            name: OptimWrapper(
                torch.optim.SGD(
                    getattr(model, name).parameters(),
                    lr=lr,
                    momentum=0.9,
                    weight_decay=wd))
            for name in model.branch_names
        })


def params(module: nn.Module) -> Dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def test_structure_and_teachers_start_as_copies() -> None:
    model = build()
    names = [n for n, _ in model.named_children()]
    assert {'b0', 'b1', 'b0_teacher', 'b1_teacher'} <= set(names)
    for name in ('b0', 'b1'):
        teacher = getattr(model, f'{name}_teacher')
        assert all(not p.requires_grad for p in teacher.parameters())
        assert all(p.requires_grad
                   for p in getattr(model, name).parameters())
        for k, v in getattr(model, name).state_dict().items():
            assert torch.equal(v, teacher.state_dict()[k])
    # the two branches are initialised independently
    assert not torch.equal(model.b0.fc.weight, model.b1.fc.weight)
    sd = model.state_dict()
    assert 'b0_teacher.fc.weight' in sd and 'ema_steps' in sd
    assert 'teacher_init_steps' in sd


def test_bad_configs() -> None:
    with pytest.raises(ValueError):
        MODELS.build(dict(type='DecoupledOnlineDistill',
                          branches=dict(b0=TinyCls())))
    with pytest.raises(ValueError):
        MODELS.build(dict(type='DecoupledOnlineDistill',
                          branches=dict(b0=TinyCls(), b1=TinyCls()),
                          predict_with='b2'))
    with pytest.raises(ValueError):
        MODELS.build(dict(type='DecoupledOnlineDistill',
                          branches={'b0': TinyCls(), 'b0.x': TinyCls()}))


@pytest.mark.parametrize('step,alpha', [(0, 0.0), (1, 0.5), (2, 2.0 / 3),
                                        (1000, 0.999)])
def test_ema_update_teachers_by_hand(step: int, alpha: float) -> None:
    model = build(teacher_init_iters=0)
    with torch.no_grad():
        for p in model.b0.parameters():
            p.add_(torch.randn_like(p))
    model.ema_steps.fill_(step)
    t_before = params(model.b0_teacher)
    s_now = params(model.b0)
    bn_before = model.b0_teacher.bn.running_mean.clone()
    momentum = model.ema_update_teachers()
    assert momentum == pytest.approx(alpha, abs=1e-12)
    for k, v in model.b0_teacher.named_parameters():
        assert torch.allclose(v, alpha * t_before[k] + (1 - alpha) * s_now[k],
                              atol=1e-7), k
    assert int(model.ema_steps) == step + 1
    # BN statistics are the teacher's own
    assert torch.equal(model.b0_teacher.bn.running_mean, bn_before)


def test_teacher_init_then_ema() -> None:
    """Init steps are real CE-only SGD steps at lr/100; afterwards the
    teachers only move by the EMA formula."""
    lr, wd, ratio = 0.1, 1e-3, 0.01
    model = build(teacher_init_iters=2, teacher_init_lr_ratio=ratio)
    ow = optim(model, lr=lr, wd=wd)
    model.train()
    for it in range(2):
        data = batch(it)
        inputs = model.data_preprocessor(copy.deepcopy(data), True)['inputs']
        labels = torch.tensor([i % NUM_CLASSES for i in range(6)])
        expected = {}
        for name in ('b0', 'b1'):
            ref = copy.deepcopy(getattr(model, f'{name}_teacher'))
            ref.requires_grad_(True)
            loss = F.cross_entropy(ref(inputs), labels)
            grads = torch.autograd.grad(loss, list(ref.parameters()))
            expected[name] = {
                k: (p - lr * ratio * (g + wd * p)).detach()
                for (k, p), g in zip(ref.named_parameters(), grads)
            }
        before = params(model.b0_teacher)
        log = model.train_step(data, ow)
        assert log['teacher_init'].item() == 1.0
        assert int(model.teacher_init_steps) == it + 1
        assert int(model.ema_steps) == 0
        for name in ('b0', 'b1'):
            teacher = getattr(model, f'{name}_teacher')
            for k, p in teacher.named_parameters():
                assert torch.allclose(p, expected[name][k], atol=1e-6), k
                assert not p.requires_grad and p.grad is None
        moved = max((before[k] - v).abs().max().item()
                    for k, v in model.b0_teacher.named_parameters())
        assert moved > 1e-6  # the teacher really changed
    assert not model.in_teacher_init

    # EMA phase: the initialised teacher is the first sample of the running
    # mean, so the first update (alpha 1/2) keeps half of it
    bn_teacher = model.b0_teacher.bn.running_mean.clone()
    t_init = {n: params(getattr(model, f'{n}_teacher')) for n in ('b0', 'b1')}
    log = model.train_step(batch(2), ow)
    assert log['teacher_init'].item() == 0.0
    assert log['ema_momentum'].item() == pytest.approx(0.5)
    for name in ('b0', 'b1'):
        branch, teacher = getattr(model, name), getattr(model,
                                                        f'{name}_teacher')
        for (k, p), q in zip(teacher.named_parameters(), branch.parameters()):
            assert torch.allclose(p, 0.5 * t_init[name][k] + 0.5 * q.detach(),
                                  atol=1e-7), k
            assert not torch.allclose(p, q.detach(), atol=1e-6), k
            assert not p.requires_grad and p.grad is None
    # ...but the teacher keeps its own BN statistics
    assert not torch.equal(model.b0_teacher.bn.running_mean,
                           model.b0.bn.running_mean)
    assert not torch.equal(model.b0_teacher.bn.running_mean, bn_teacher)

    # then alpha 2/3 and 3/4, no gradient on the teachers
    for step, alpha in ((1, 2.0 / 3), (2, 0.75)):
        t_prev = params(model.b0_teacher)
        log = model.train_step(batch(3 + step), ow)
        assert log['ema_momentum'].item() == pytest.approx(alpha)
        s_new = params(model.b0)
        for k, p in model.b0_teacher.named_parameters():
            assert torch.allclose(
                p, alpha * t_prev[k] + (1 - alpha) * s_new[k], atol=1e-7)
    assert int(model.ema_steps) == 3 and int(model.teacher_init_steps) == 2


@pytest.mark.parametrize('count_init,init_iters,alpha0',
                         [(True, 1, 0.5), (False, 1, 0.0), (True, 0, 0.0)])
def test_first_ema_update_and_the_initialised_teacher(
        count_init: bool, init_iters: int, alpha0: float) -> None:
    """The first EMA update keeps ``alpha0`` of the teacher as it was after
    its initialisation: 1/2 when the initialisation counts as the first
    sample of the mean, 0 (a copy of the branch, the authors' code) when it
    does not or when there was none."""
    model = build(teacher_init_iters=init_iters, ema_count_init=count_init)
    ow = optim(model)
    model.train()
    for it in range(init_iters):
        model.train_step(batch(it), ow)
    t_init = params(model.b1_teacher)
    log = model.train_step(batch(init_iters), ow)
    assert log['ema_momentum'].item() == pytest.approx(alpha0)
    assert int(model.ema_steps) == 1
    for (k, p), q in zip(model.b1_teacher.named_parameters(),
                         model.b1.parameters()):
        assert torch.allclose(
            p, alpha0 * t_init[k] + (1 - alpha0) * q.detach(), atol=1e-7), k


def test_branches_update_with_their_own_optimizer() -> None:
    model = build(teacher_init_iters=0)
    ow = optim(model)
    # freeze b1's optimizer: lr 0 -> only b0 moves
    for group in ow['b1'].optimizer.param_groups:
        group['lr'] = 0.0
    b0, b1 = params(model.b0), params(model.b1)
    model.train()
    log = model.train_step(batch(), ow)
    assert any(not torch.equal(v, b0[k])
               for k, v in model.b0.named_parameters())
    assert all(torch.equal(v, b1[k]) for k, v in model.b1.named_parameters())
    for key in ('loss', 'b0.loss_ce', 'b0.loss_kd', 'b0.loss_peer',
                'b1.loss_ce', 'b1.loss_kd', 'b1.loss_peer', 'decay_weight',
                'rampup_weight', 'b0_teacher.ce'):
        assert key in log and torch.isfinite(log[key])
    total = sum(log[f'b{i}.{k}']
                for i in range(2) for k in ('loss_ce', 'loss_kd', 'loss_peer'))
    assert log['loss'].item() == pytest.approx(total.item(), rel=1e-5)


def test_loss_values_by_hand() -> None:
    """Three branches so that the teachers' ensemble differs from the
    individual teachers; epoch 1 of a 4-epoch ramp-up."""
    tau, epoch = 2.0, 1
    model = build(n=3, tau=tau, ce_weight=0.7, kd_weight=0.3,
                  peer_weight=0.4, rampup_epochs=4, decay_k=0.5)
    torch.manual_seed(1)
    z = {f'b{i}': torch.randn(4, NUM_CLASSES) for i in range(3)}
    t = {f'b{i}': torch.randn(4, NUM_CLASSES) for i in range(3)}
    y = torch.tensor([0, 1, 2, 3])
    losses = model.compute_losses(z, t, y, epoch=epoch)
    w = math.exp(-0.5)
    r = math.exp(-5 * (1 - 1 / 4)**2)
    ens = (z['b0'] + z['b1'] + z['b2']) / 3

    def kd(a: torch.Tensor, b: torch.Tensor) -> float:
        pb = torch.softmax(b / tau, 1)
        return ((pb * (pb.log() - torch.log_softmax(a / tau, 1))).sum(1).mean()
                * tau * tau).item()

    for i in range(3):
        name = f'b{i}'
        others = [t[f'b{j}'] for j in range(3) if j != i]
        peer = w * kd(z[name], (others[0] + others[1]) / 2) + (1 - w) * (
            kd(z[name], others[0]) + kd(z[name], others[1])) / 2
        assert losses[name]['loss_ce'].item() == pytest.approx(
            0.7 * F.cross_entropy(z[name], y).item(), rel=1e-5)
        assert losses[name]['loss_kd'].item() == pytest.approx(
            0.3 * r * kd(z[name], ens), rel=1e-5)
        assert losses[name]['loss_peer'].item() == pytest.approx(
            0.4 * r * peer, rel=1e-5)
    # after the cut-off only the individual teachers remain
    late = model.compute_losses(z, t, y, epoch=10)
    indiv = (soft_kd_loss(z['b0'], t['b1'], tau) +
             soft_kd_loss(z['b0'], t['b2'], tau)) / 2
    assert late['b0']['loss_peer'].item() == pytest.approx(
        0.4 * indiv.item(), rel=1e-5)
    assert model.schedule(10) == dict(decay_weight=0.0, rampup_weight=1.0)


def test_epoch_from_message_hub() -> None:
    from mmengine.logging import MessageHub
    model = build(rampup_epochs=10)
    hub = MessageHub.get_current_instance()
    old = hub.get_info('epoch')
    try:
        hub.update_info('epoch', 5)
        assert model.current_epoch() == 5
        sched = model.schedule()
        assert sched['decay_weight'] == pytest.approx(math.exp(-2.5))
        assert sched['rampup_weight'] == pytest.approx(math.exp(-1.25))
        model.train()
        log = model.train_step(batch(), optim(model))
        assert log['decay_weight'].item() == pytest.approx(math.exp(-2.5))
        assert log['rampup_weight'].item() == pytest.approx(math.exp(-1.25))
    finally:
        hub.update_info('epoch', old if old is not None else 0)


def test_predict_all_and_forward() -> None:
    model = build(predict_with='b1')
    model.eval()
    data = model.data_preprocessor(batch(), False)
    preds = model.predict_all(**data)
    assert list(preds) == ['b0', 'b1', 'b0_teacher', 'b1_teacher', 'ensemble']
    with torch.no_grad():
        z0 = model.b0(data['inputs'])
        z1 = model.b1(data['inputs'])
    ens = torch.softmax((z0 + z1) / 2, 1)
    for i, sample in enumerate(preds['ensemble']):
        assert torch.allclose(sample.pred_score, ens[i], atol=1e-6)
        assert sample.pred_label.item() == ens[i].argmax().item()
        assert sample.gt_label.item() == i % NUM_CLASSES
    for i, sample in enumerate(preds['b0']):
        assert torch.allclose(sample.pred_score, z0[i].softmax(0), atol=1e-6)
    # the input samples are not modified
    assert all('pred_score' not in ds for ds in data['data_samples'])
    # predict / tensor use predict_with
    with torch.no_grad():
        out = model(data['inputs'], data['data_samples'], mode='predict')
        assert torch.allclose(out[0].pred_score, z1[0].softmax(0), atol=1e-6)
        assert torch.allclose(model(data['inputs']), z1)
        losses = model(data['inputs'], data['data_samples'], mode='loss')
    assert set(losses) == {f'b{i}.loss_{k}'
                           for i in range(2) for k in ('ce', 'kd', 'peer')}


def test_separate_optim_wrapper_constructor() -> None:
    model = build()
    ow = build_optim_wrapper(
        model,
        dict(
            constructor='mmrazor.SeparateOptimWrapperConstructor',
            b0=dict(
                type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1)),
            b1=dict(
                type='OptimWrapper', optimizer=dict(type='SGD', lr=0.2))))
    assert isinstance(ow, OptimWrapperDict)
    assert set(ow.keys()) == {'b0', 'b1'}
    for name in ('b0', 'b1'):
        opt_params = {
            id(p)
            for g in ow[name].optimizer.param_groups for p in g['params']
        }
        assert opt_params == {id(p) for p in getattr(model, name).parameters()}
    model.train()
    log = model.train_step(batch(), ow)
    assert torch.isfinite(log['loss'])
