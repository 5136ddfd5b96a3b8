"""KL direction of the UDSKD teacher and peer terms (arXiv 2511.18826):
``'forward'`` KL(p_T ‖ p_S) (Hinton, the default) and ``'reverse'``
KL(p_S ‖ p_T) (the paper's written form), checked against hand values."""
import math

import mmrazor_udskd  # noqa: F401  isort:skip  (compat patches first)
import pytest
import torch
from mmrazor.registry import MODELS

from mmrazor_udskd.models.losses import functional as LF

# student uniform over 2 classes, target (0.75, 0.25) at the temperature
P_S, P_T = (0.5, 0.5), (0.75, 0.25)
FORWARD = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
REVERSE = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
# FORWARD = 0.1308120 and REVERSE = 0.1438410 differ, so each test below
# tells the directions apart
# teacher entropy at T=1 and the entropy weight w = 1 - H / log 2
H_T = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
W_T = 1.0 - H_T / math.log(2.0)


def _logits(tau: float = 1.0, requires_grad: bool = False):
    s = torch.zeros(1, 2, requires_grad=requires_grad)
    t = torch.tensor([[tau * math.log(3.0), 0.0]],
                     requires_grad=requires_grad)
    return s, t


@pytest.mark.parametrize('tau', [1.0, 2.0])
def test_per_sample_functions_both_directions(tau):
    s, t = _logits(tau)
    assert LF.kl_per_sample(s, t, tau).item() == pytest.approx(
        tau**2 * FORWARD, rel=1e-5)
    assert LF.reverse_kl_per_sample(s, t, tau).item() == pytest.approx(
        tau**2 * REVERSE, rel=1e-5)
    assert LF.directed_kl_per_sample(s, t, tau).item() == pytest.approx(
        tau**2 * FORWARD, rel=1e-5)
    assert LF.directed_kl_per_sample(s, t, tau, 'reverse').item() == \
        pytest.approx(tau**2 * REVERSE, rel=1e-5)
    with pytest.raises(ValueError, match='direction'):
        LF.directed_kl_per_sample(s, t, tau, 'backward')


def test_weighted_kd_and_peer_kl_take_the_direction():
    s, t = _logits()
    w = torch.tensor([0.5])
    assert LF.weighted_kd(s, t, w, 1.0).item() == pytest.approx(
        0.5 * FORWARD, rel=1e-5)
    assert LF.weighted_kd(s, t, w, 1.0, direction='reverse').item() == \
        pytest.approx(0.5 * REVERSE, rel=1e-5)
    assert LF.peer_kl(s, t, 1.0).item() == pytest.approx(FORWARD, rel=1e-5)
    assert LF.peer_kl(s, t, 1.0, direction='reverse').item() == \
        pytest.approx(REVERSE, rel=1e-5)


def test_reverse_kl_of_masked_classes_is_finite():
    # a class neither side can predict adds 0 in both directions
    s = torch.tensor([[0.0, 0.0, float('-inf')]])
    t = torch.tensor([[math.log(3.0), 0.0, float('-inf')]])
    assert LF.reverse_kl_per_sample(s, t, 1.0).item() == pytest.approx(
        REVERSE, rel=1e-5)
    assert LF.kl_per_sample(s, t, 1.0).item() == pytest.approx(
        FORWARD, rel=1e-5)


@pytest.mark.parametrize('direction,value', [('forward', FORWARD),
                                             ('reverse', REVERSE)])
def test_entropy_weighted_kd_loss_direction(direction, value):
    s, t = _logits(4.0)  # target (0.75, 0.25) at tau=4
    plain = MODELS.build(
        dict(type='EntropyWeightedKDLoss', tau=4.0, weighting='none',
             direction=direction))
    assert plain.direction == direction
    assert plain(s, t).item() == pytest.approx(16 * value, rel=1e-5)
    # entropy weight from the T=1 teacher softmax: logits (4 ln 3, 0)
    p1 = torch.softmax(t, dim=1)[0]
    h1 = -(p1 * p1.log()).sum().item()
    weighted = MODELS.build(
        dict(type='EntropyWeightedKDLoss', tau=4.0, direction=direction))
    assert weighted(s, t).item() == pytest.approx(
        (1 - h1 / math.log(2)) * 16 * value, rel=1e-5)
    with pytest.raises(ValueError, match='direction'):
        MODELS.build(dict(type='EntropyWeightedKDLoss', direction='kl'))


def test_entropy_weight_hand_value_at_t1():
    s, t = _logits(1.0)
    loss = MODELS.build(dict(type='EntropyWeightedKDLoss', tau=1.0,
                             direction='reverse'))
    assert loss(s, t).item() == pytest.approx(W_T * REVERSE, rel=1e-5)


@pytest.mark.parametrize('direction,value', [('forward', FORWARD),
                                             ('reverse', REVERSE)])
def test_peer_kl_loss_direction_mean_over_peers(direction, value):
    s, t = _logits()
    same = torch.zeros(1, 2)  # a peer equal to the student: KL 0
    loss = MODELS.build(dict(type='PeerKLLoss', tau=1.0,
                             direction=direction))
    assert loss.direction == direction
    assert loss(s, t).item() == pytest.approx(value, rel=1e-5)
    assert loss(s, [t, same]).item() == pytest.approx(value / 2, rel=1e-5)
    with pytest.raises(ValueError, match='direction'):
        MODELS.build(dict(type='PeerKLLoss', direction=None))


def test_default_direction_is_forward():
    s, t = _logits()
    kd = MODELS.build(dict(type='EntropyWeightedKDLoss', tau=1.0,
                           weighting='none'))
    peer = MODELS.build(dict(type='PeerKLLoss', tau=1.0))
    assert kd.direction == peer.direction == 'forward'
    assert kd(s, t).item() == pytest.approx(FORWARD, rel=1e-5)
    assert peer(s, t).item() == pytest.approx(FORWARD, rel=1e-5)


@pytest.mark.parametrize('loss_type', ['EntropyWeightedKDLoss', 'PeerKLLoss'])
def test_gradients_only_into_the_student(loss_type):
    # d/dz_S KL(p_T || p_S) = p_S - p_T;
    # d/dz_S KL(p_S || p_T) = p_S * (log p_S - log p_T - KL)   (tau = 1)
    extra = dict(weighting='none') if loss_type.startswith('Entropy') else {}
    expected = {
        'forward': [P_S[0] - P_T[0], P_S[1] - P_T[1]],
        'reverse': [
            P_S[c] * (math.log(P_S[c] / P_T[c]) - REVERSE) for c in (0, 1)
        ],
    }
    for direction, grad in expected.items():
        s, t = _logits(requires_grad=True)
        loss = MODELS.build(dict(type=loss_type, tau=1.0,
                                 direction=direction, **extra))
        loss(s, t).backward()
        assert t.grad is None
        assert s.grad[0].tolist() == pytest.approx(grad, abs=1e-6)


def test_distiller_builds_reverse_losses_from_config():
    from mmrazor_udskd.models.distillers import MultiStudentDistiller
    distiller = MultiStudentDistiller(
        ['a', 'b'], tau=1.0,
        teacher_loss=dict(type='EntropyWeightedKDLoss', weighting='none',
                          direction='reverse'),
        peer_loss=dict(type='PeerKLLoss', direction='reverse'))
    assert distiller.teacher_loss.direction == 'reverse'
    assert distiller.peer_loss.direction == 'reverse'
    s, t = _logits()
    logits = dict(a=s, b=t)
    terms, _ = distiller.student_losses('a', logits, t, torch.tensor([0]))
    beta, gamma = (distiller.loss_weights['a'][k] for k in ('beta', 'gamma'))
    assert terms['loss_teacher'].item() == pytest.approx(beta * REVERSE,
                                                         rel=1e-5)
    assert terms['loss_peer'].item() == pytest.approx(gamma * REVERSE,
                                                      rel=1e-5)
