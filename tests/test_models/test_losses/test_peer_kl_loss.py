"""PeerKLLoss: values, several peers, detaching, args."""
import numpy as np
import pytest
import torch

import mmrazor_udskd  # noqa: F401  (compat patches first)
from mmrazor.registry import MODELS


def np_log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


def np_kl(s: np.ndarray, p: np.ndarray, tau: float) -> np.ndarray:
    lp, ls = np_log_softmax(p / tau), np_log_softmax(s / tau)
    return tau**2 * (np.exp(lp) * (lp - ls)).sum(axis=1)


def build(**kwargs):
    return MODELS.build(dict(type='PeerKLLoss', **kwargs))


def test_value_by_hand_and_two_peers_mean():
    rng = np.random.default_rng(0)
    s, p1, p2 = (rng.normal(size=(5, 4)) * 2 for _ in range(3))
    tau, lam = 3.0, 2.0
    f = build(tau=tau, loss_weight=lam)
    ts = [torch.tensor(a, dtype=torch.float32) for a in (s, p1, p2)]
    one = f(ts[0], ts[1])
    assert one.item() == pytest.approx(lam * np_kl(s, p1, tau).mean(),
                                       rel=1e-5)
    two = f(ts[0], [ts[1], ts[2]])
    assert two.item() == pytest.approx(
        0.5 * (f(ts[0], ts[1]).item() + f(ts[0], ts[2]).item()), rel=1e-6)
    assert two.item() == pytest.approx(
        lam * 0.5 * (np_kl(s, p1, tau) + np_kl(s, p2, tau)).mean(),
        rel=1e-5)
    assert f(ts[0], (ts[1], ts[2])).item() == pytest.approx(two.item())
    per = build(tau=tau, reduction='none')(ts[0], [ts[1], ts[2]])
    assert per.shape == (5, )
    np.testing.assert_allclose(
        per.numpy(), 0.5 * (np_kl(s, p1, tau) + np_kl(s, p2, tau)),
        rtol=1e-5)
    assert build(tau=tau, reduction='sum')(ts[0], ts[1]).item() == \
        pytest.approx(np_kl(s, p1, tau).sum(), rel=1e-5)


def test_matches_kldivergence():
    s, p = torch.randn(3, 8), torch.randn(3, 8)
    ref = MODELS.build(dict(type='KLDivergence', tau=4.0))
    assert build()(s, p).item() == pytest.approx(ref(s, p).item(), rel=1e-5)


def test_gradients_detach():
    s = torch.randn(3, 5, requires_grad=True)
    p1 = torch.randn(3, 5, requires_grad=True)
    p2 = torch.randn(3, 5, requires_grad=True)
    build()(s, [p1, p2]).backward()
    assert s.grad is not None and p1.grad is None and p2.grad is None
    build(peer_detach=False)(s, p1).backward()
    assert p1.grad is not None


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_low_precision_and_inf(dtype):
    s = torch.tensor([[-float('inf'), 1e4, 0.0], [1.0, 2.0, 3.0]],
                     dtype=dtype, requires_grad=True)
    p = torch.tensor([[-float('inf'), -1e4, 1.0], [3.0, 2.0, 1.0]],
                     dtype=dtype)
    loss = build()(s, p)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(s.grad.float()).all()


@pytest.mark.parametrize('kwargs, field', [
    (dict(tau=0.0), 'tau'),
    (dict(loss_weight=-1.0), 'loss_weight'),
    (dict(reduction='avg'), 'reduction'),
    (dict(peer_detach='yes'), 'peer_detach'),
])
def test_bad_args(kwargs, field):
    with pytest.raises(ValueError, match=f'`{field}`'):
        build(**kwargs)


def test_no_peer():
    with pytest.raises(ValueError, match='preds_peer'):
        build()(torch.randn(2, 3), [])
