"""EntropyWeightedKDLoss: values, MMRazor parity, stats, gradients, args."""
import math

import numpy as np
import pytest
import torch

import mmrazor_udskd  # noqa: F401  (compat patches first)
from mmrazor.registry import MODELS


def np_log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


def build(**kwargs):
    return MODELS.build(dict(type='EntropyWeightedKDLoss', **kwargs))


@pytest.mark.parametrize('reduction', ['batchmean', 'mean', 'sum'])
def test_none_weighting_equals_mmrazor_kldivergence(reduction):
    torch.manual_seed(1)
    s, t = torch.randn(6, 10) * 3, torch.randn(6, 10) * 3
    ours = build(tau=4.0, loss_weight=0.7, reduction=reduction,
                 weighting='none')
    ref = MODELS.build(dict(type='KLDivergence', tau=4.0, loss_weight=0.7,
                            reduction=reduction))
    assert ours(s, t).item() == pytest.approx(ref(s, t).item(), rel=1e-5)


def test_entropy_weighted_value_by_hand():
    s = np.array([[1.0, 0.0, -1.0], [0.5, 0.5, 2.0], [0.0, 3.0, 1.0]])
    t = np.array([[0.0, 0.0, 0.0], [9.0, 0.0, 0.0], [1.0, 2.0, 0.0]])
    tau, lam = 2.0, 0.5
    # weight: 1 - H(softmax(t))/ln 3 at entropy_tau = 1
    pt1 = np.exp(np_log_softmax(t))
    h = -(pt1 * np.log(pt1)).sum(axis=1)
    w = 1 - h / math.log(3)
    lt, ls = np_log_softmax(t / tau), np_log_softmax(s / tau)
    kl = tau**2 * (np.exp(lt) * (lt - ls)).sum(axis=1)
    expected = lam * (w * kl).mean()
    loss_fn = build(tau=tau, loss_weight=lam)
    loss = loss_fn(torch.tensor(s, dtype=torch.float32),
                   torch.tensor(t, dtype=torch.float32))
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert w[0] == pytest.approx(0.0, abs=1e-12)  # uniform teacher row
    np.testing.assert_allclose(loss_fn.last_weight.numpy(), w, atol=1e-6)
    np.testing.assert_allclose(loss_fn.last_entropy.numpy(), h, rtol=1e-4)
    per = build(tau=tau, loss_weight=lam, reduction='none')(
        torch.tensor(s, dtype=torch.float32),
        torch.tensor(t, dtype=torch.float32))
    np.testing.assert_allclose(per.numpy(), lam * w * kl, rtol=1e-5, atol=1e-7)


def test_stats():
    t = torch.tensor([[0.0, 0.0, 0.0, 0.0], [50.0, 0.0, 0.0, 0.0],
                      [2.0, 1.0, 0.0, 0.0], [0.1, 0.0, 0.0, 0.0]])
    s = torch.zeros(4, 4)
    loss_fn = build(tau=4.0, entropy_tau=1.0)
    assert loss_fn.stats() == {}
    loss_fn(s, t)
    st = loss_fn.stats()
    assert set(st) == {'weight_mean', 'entropy_t1', 'entropy_tau',
                       'uncertain_ratio'}
    assert all(v.dim() == 0 and not v.requires_grad for v in st.values())

    def np_h(tau):
        p = np.exp(np_log_softmax(t.double().numpy() / tau))
        return -(p * np.log(np.where(p > 0, p, 1))).sum(axis=1)

    w = 1 - np_h(1.0) / math.log(4)
    assert st['weight_mean'].item() == pytest.approx(w.mean(), rel=1e-5)
    assert st['entropy_t1'].item() == pytest.approx(np_h(1.0).mean(),
                                                    rel=1e-5)
    assert st['entropy_tau'].item() == pytest.approx(np_h(4.0).mean(),
                                                     rel=1e-5)
    # rows 0 (uniform) and 3 (near uniform) are uncertain, 1 is not
    assert st['uncertain_ratio'].item() == pytest.approx((w < 0.5).mean())
    assert loss_fn.last_weight.shape == (4, )


def test_margin_weighting_value():
    t = torch.tensor([[2.0, 1.0, 0.0], [0.0, 0.0, 4.0]])
    s = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    pt = np.exp(np_log_softmax(t.double().numpy()))
    srt = np.sort(pt, axis=1)
    w = srt[:, -1] - srt[:, -2]
    lt = np_log_softmax(t.double().numpy())
    ls = np_log_softmax(s.double().numpy())
    kl = (np.exp(lt) * (lt - ls)).sum(axis=1)
    loss = build(tau=1.0, weighting='margin')(s, t)
    assert loss.item() == pytest.approx((w * kl).mean(), rel=1e-5)


def test_gradient_only_to_student():
    s = torch.randn(4, 7, requires_grad=True)
    t = torch.randn(4, 7, requires_grad=True)
    build()(s, t).backward()
    assert s.grad is not None and torch.isfinite(s.grad).all()
    assert s.grad.abs().sum() > 0
    assert t.grad is None


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_low_precision_and_extreme_logits(dtype):
    t = torch.tensor([[1e4, -1e4, 0.0], [-float('inf'), 1.0, 2.0],
                      [0.0, 0.0, 0.0]]).to(dtype)
    s = torch.tensor([[-1e4, 1e4, 0.0], [-float('inf'), 2.0, 1.0],
                      [1.0, 2.0, 3.0]]).to(dtype).requires_grad_()
    for weighting in ('entropy', 'margin', 'none'):
        loss_fn = build(weighting=weighting)
        loss = loss_fn(s, t)
        assert loss.dtype == torch.float32 and torch.isfinite(loss)
        loss.backward()
        assert torch.isfinite(s.grad.float()).all()
        s.grad = None
        assert all(torch.isfinite(v) for v in loss_fn.stats().values())


@pytest.mark.parametrize('kwargs, field', [
    (dict(tau=0.0), 'tau'),
    (dict(tau=-1.0), 'tau'),
    (dict(tau=float('nan')), 'tau'),
    (dict(loss_weight=-0.1), 'loss_weight'),
    (dict(loss_weight=float('inf')), 'loss_weight'),
    (dict(weighting='variance'), 'weighting'),
    (dict(reduction='avg'), 'reduction'),
    (dict(entropy_tau=0.0), 'entropy_tau'),
])
def test_bad_args(kwargs, field):
    with pytest.raises(ValueError, match=f'`{field}`'):
        build(**kwargs)
