"""Hand-checked values of the pure loss functions in
``mmrazor_udskd.models.losses.functional``."""
import math

import numpy as np
import pytest
import torch

import mmrazor_udskd  # noqa: F401  (compat patches first)
from mmrazor_udskd.models.losses import functional as LF
from mmrazor_udskd.models.losses.ckd_functional import contrastive_logit_kd


def np_log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


def test_entropy_uniform_and_one_hot():
    logits = torch.tensor([[0., 0., 0., 0.], [100., 0., 0., 0.]])
    h = LF.teacher_entropy(logits)
    assert h.shape == (2, )
    assert h[0].item() == pytest.approx(math.log(4), abs=1e-6)
    # p_rest = e^-100 each: H ~ 3 * 100 * e^-100 ~ 0
    assert 0.0 <= h[1].item() < 1e-30
    w = LF.confidence_weight(logits)
    assert abs(w[0].item()) < 1e-6          # uniform teacher -> w = 0
    assert w[1].item() == pytest.approx(1.0, abs=1e-6)  # one-hot -> w = 1


def test_entropy_weight_two_classes():
    # logits [ln 3, 0] -> p = [3/4, 1/4]
    logits = torch.tensor([[math.log(3.0), 0.0]])
    p = [0.75, 0.25]
    h = -sum(q * math.log(q) for q in p)
    assert LF.teacher_entropy(logits).item() == pytest.approx(h, rel=1e-6)
    w = LF.confidence_weight(logits, mode='entropy')
    assert w.item() == pytest.approx(1 - h / math.log(2), rel=1e-6)
    assert LF.confidence_weight(logits, mode='margin').item() == \
        pytest.approx(0.5, abs=1e-6)


def test_entropy_weight_1000_classes_and_tau():
    num_classes, big = 1000, 8.0
    logits = torch.zeros(1, num_classes)
    logits[0, 0] = big
    for tau in (1.0, 2.0):
        z = math.exp(big / tau) + (num_classes - 1)
        p0, pr = math.exp(big / tau) / z, 1.0 / z
        h = -(p0 * math.log(p0) + (num_classes - 1) * pr * math.log(pr))
        assert LF.teacher_entropy(logits, tau).item() == pytest.approx(
            h, rel=1e-5)
        assert LF.confidence_weight(logits, tau).item() == pytest.approx(
            1 - h / math.log(num_classes), rel=1e-5)
        assert LF.confidence_weight(logits, tau, 'margin').item() == \
            pytest.approx(p0 - pr, rel=1e-5)


def test_margin_values_and_none():
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 3.0]])
    e = np.exp(np.array([2.0, 1.0, 0.0]))
    p = e / e.sum()
    w = LF.confidence_weight(logits, mode='margin')
    assert w[0].item() == pytest.approx(p[0] - p[1], rel=1e-6)
    assert w[1].item() == pytest.approx(0.0, abs=1e-7)  # tie at the top
    assert torch.equal(LF.confidence_weight(logits, mode='none'),
                       torch.ones(2))


def test_single_class_weight_is_one():
    logits = torch.tensor([[3.0], [-2.0]])
    for mode in ('entropy', 'margin', 'none'):
        assert torch.equal(LF.confidence_weight(logits, mode=mode),
                           torch.ones(2))


def test_weight_is_detached_and_unknown_mode():
    logits = torch.randn(3, 5, requires_grad=True)
    assert not LF.confidence_weight(logits).requires_grad
    with pytest.raises(ValueError, match="bogus.*entropy"):
        LF.confidence_weight(logits, mode='bogus')


def test_kl_per_sample_and_weighted_kd_values():
    s = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    t = np.array([[2.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    tau = 2.0
    lt, ls = np_log_softmax(t / tau), np_log_softmax(s / tau)
    kl = tau**2 * (np.exp(lt) * (lt - ls)).sum(axis=1)
    out = LF.kl_per_sample(torch.tensor(s), torch.tensor(t), tau)
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), kl, rtol=1e-5)
    w = np.array([0.25, 1.0])
    args = (torch.tensor(s), torch.tensor(t), torch.tensor(w), tau)
    assert LF.weighted_kd(*args).item() == pytest.approx(
        (w * kl).sum() / 2, rel=1e-5)
    assert LF.weighted_kd(*args, reduction='sum').item() == pytest.approx(
        (w * kl).sum(), rel=1e-5)
    np.testing.assert_allclose(
        LF.weighted_kd(*args, reduction='none').numpy(), w * kl, rtol=1e-5)
    with pytest.raises(ValueError, match='reduction'):
        LF.weighted_kd(*args, reduction='avg')


def test_peer_kl_detach():
    s = torch.randn(4, 6, requires_grad=True)
    peer = torch.randn(4, 6, requires_grad=True)
    LF.peer_kl(s, peer, 3.0).backward()
    assert s.grad is not None and peer.grad is None
    s.grad = None
    LF.peer_kl(s, peer, 3.0, detach=False).backward()
    assert peer.grad is not None and torch.isfinite(peer.grad).all()


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_low_precision_no_nan(dtype):
    torch.manual_seed(0)
    s32, t32 = torch.randn(8, 100) * 20, torch.randn(8, 100) * 20
    s = s32.to(dtype).requires_grad_()
    t = t32.to(dtype)
    w = LF.confidence_weight(t)
    loss = LF.weighted_kd(s, t, w, 4.0)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    ref = LF.weighted_kd(s32.to(dtype).float(), t32.to(dtype).float(),
                         LF.confidence_weight(t.float()), 4.0)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)
    loss.backward()
    assert torch.isfinite(s.grad.float()).all()


def test_inf_and_huge_logits_no_nan():
    # masked class (-inf in both), -inf only in the teacher, and +-1e4
    t = torch.tensor([[-float('inf'), 1.0, 2.0], [-float('inf'), 0.0, 5.0],
                      [1e4, -1e4, 0.0]], requires_grad=True)
    s = torch.tensor([[-float('inf'), 0.0, 1.0], [3.0, 1.0, 0.0],
                      [-1e4, 1e4, 0.0]], requires_grad=True)
    h = LF.teacher_entropy(t)
    assert torch.isfinite(h).all()
    p = np.exp(np_log_softmax(np.array([[1.0, 2.0]])))[0]
    assert h[0].item() == pytest.approx(-(p * np.log(p)).sum(), rel=1e-6)
    kl = LF.kl_per_sample(s, t, 1.0)
    assert torch.isfinite(kl).all()
    # row 0: the masked class adds nothing: KL over the two live classes
    ls = np_log_softmax(np.array([[0.0, 1.0]]))[0]
    assert kl[0].item() == pytest.approx((p * (np.log(p) - ls)).sum(),
                                         rel=1e-5)
    # row 2: teacher one-hot on class 0, student logit there is -1e4 lower
    # than its max: KL = log p_T0 - log p_S0 = 0 - (-2e4)
    assert kl[2].item() == pytest.approx(2e4, rel=1e-6)
    loss = LF.peer_kl(s, t, 1.0, detach=False) + LF.confidence_weight(
        t).sum() + h.sum()
    loss.backward()
    assert torch.isfinite(s.grad).all() and torch.isfinite(t.grad).all()
    for mode in ('entropy', 'margin'):
        assert torch.isfinite(LF.confidence_weight(t, mode=mode)).all()


def test_contrastive_batch_of_one_is_zero_with_graph():
    s = torch.randn(1, 5, requires_grad=True)
    loss = contrastive_logit_kd(s, torch.randn(1, 5))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(s.grad, torch.zeros(1, 5))


def test_bad_shapes_and_tau():
    with pytest.raises(ValueError, match='logits_T'):
        LF.teacher_entropy(torch.randn(5))
    with pytest.raises(ValueError, match='tau'):
        LF.teacher_entropy(torch.randn(2, 3), tau=0.0)
    with pytest.raises(ValueError, match='same shape'):
        LF.kl_per_sample(torch.randn(2, 3), torch.randn(2, 4), 1.0)
