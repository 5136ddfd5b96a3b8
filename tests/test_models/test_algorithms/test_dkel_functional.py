"""DKEL's schedule functions and EMA / KD arithmetic, checked by hand."""
import math

import pytest
import torch
import torch.nn as nn

import mmrazor_udskd  # noqa: F401
from mmrazor_udskd.models.losses.dkel_functional import soft_kd_loss
from mmrazor_udskd.models.losses.schedules import (decay_weight, ema_momentum,
                                                   sigmoid_rampup)
from mmrazor_udskd.models.utils.teacher_updates import ema_update_


@pytest.mark.parametrize('step,expected', [(0, 0.0), (1, 0.5), (2, 2.0 / 3),
                                           (9, 0.9), (1000, 0.999)])
def test_ema_momentum(step: int, expected: float) -> None:
    assert ema_momentum(step, 0.999) == pytest.approx(expected, abs=1e-12)


def test_ema_momentum_cap_and_errors() -> None:
    # 1 - 1/1001 = 0.999000999... > 0.999: capped
    assert ema_momentum(1000, 0.999) == 0.999
    assert ema_momentum(998, 0.999) == pytest.approx(1 - 1 / 999)
    with pytest.raises(ValueError):
        ema_momentum(-1)


@pytest.mark.parametrize('epoch,expected', [
    (0, 1.0),
    (1, math.exp(-0.5)),
    (9, math.exp(-4.5)),  # 0.0111 >= 0.01: kept
    (10, 0.0),  # e^-5 = 0.0067 < 0.01: cut to 0
    (50, 0.0),
])
def test_decay_weight(epoch: int, expected: float) -> None:
    assert decay_weight(epoch, k=0.5, cutoff=0.01) == pytest.approx(
        expected, abs=1e-12)


def test_decay_weight_values_by_hand() -> None:
    assert decay_weight(9) == pytest.approx(0.011109, abs=1e-6)
    assert math.exp(-5) == pytest.approx(0.006738, abs=1e-6)
    assert decay_weight(10, cutoff=0.0) == pytest.approx(math.exp(-5))
    assert decay_weight(3, k=1.0) == pytest.approx(math.exp(-3))


@pytest.mark.parametrize('epoch,length,expected', [
    (0, 0, 1.0),
    (7, 0, 1.0),
    (0, 10, math.exp(-5)),
    (5, 10, math.exp(-1.25)),
    (8, 10, math.exp(-0.2)),
    (10, 10, 1.0),
    (20, 10, 1.0),
    (-3, 10, math.exp(-5)),
    (1, 80, math.exp(-5 * (79 / 80)**2)),
])
def test_sigmoid_rampup(epoch: float, length: float, expected: float) -> None:
    assert sigmoid_rampup(epoch, length) == pytest.approx(expected, abs=1e-12)


def test_sigmoid_rampup_not_the_authors_bug() -> None:
    # the authors' helper gives ~0 at epoch 40 of an 80-epoch ramp; ours
    # is exp(-1.25) = 0.2865 there
    assert sigmoid_rampup(40, 80) == pytest.approx(0.2865048, abs=1e-6)
    with pytest.raises(ValueError):
        sigmoid_rampup(1, -1)


@pytest.mark.parametrize('step', [0, 1, 2, 1000])
def test_ema_update_by_hand(step: int) -> None:
    torch.manual_seed(step)
    student, teacher = nn.Linear(3, 2), nn.Linear(3, 2)
    t_w, t_b = teacher.weight.detach().clone(), teacher.bias.detach().clone()
    s_w, s_b = student.weight.detach().clone(), student.bias.detach().clone()
    alpha = {0: 0.0, 1: 0.5, 2: 2.0 / 3, 1000: 0.999}[step]
    ema_update_(teacher.parameters(), student.parameters(),
                ema_momentum(step, 0.999))
    assert torch.allclose(teacher.weight, alpha * t_w + (1 - alpha) * s_w)
    assert torch.allclose(teacher.bias, alpha * t_b + (1 - alpha) * s_b)
    # the student is untouched
    assert torch.equal(student.weight, s_w)


def test_soft_kd_loss_by_hand() -> None:
    s = torch.tensor([[1.0, 2.0, 0.5]])
    t = torch.tensor([[0.0, 3.0, -1.0]])
    tau = 3.0
    p_t = torch.softmax(t / tau, 1)
    p_s = torch.softmax(s / tau, 1)
    expected = (p_t * (p_t.log() - p_s.log())).sum() * tau * tau
    assert soft_kd_loss(s, t, tau).item() == pytest.approx(
        expected.item(), rel=1e-6)
    assert soft_kd_loss(t, t, tau).item() == pytest.approx(0.0, abs=1e-7)
    # the target gets no gradient
    t2 = t.clone().requires_grad_(True)
    s2 = s.clone().requires_grad_(True)
    soft_kd_loss(s2, t2, tau).backward()
    assert t2.grad is None and s2.grad is not None
