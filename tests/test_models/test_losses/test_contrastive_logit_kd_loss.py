"""ContrastiveLogitKDLoss (CKD, arXiv 2404.14109): values, invariances,
gradients and the distributed ``gather_negatives`` behaviour."""
import os

import numpy as np
import pytest
import torch

import mmrazor_udskd  # noqa: F401  (compat patches first)
from mmrazor.registry import MODELS

S_3x4 = np.array([[1.0, 2.0, 0.0, -1.0], [0.5, -0.5, 3.0, 1.0],
                  [2.0, 2.0, 1.0, 0.0]])
T_3x4 = np.array([[2.0, 1.0, 0.0, 0.0], [0.0, 0.0, 4.0, 1.0],
                  [1.0, 3.0, 0.0, 1.0]])


def np_ckd_rows(t: np.ndarray, s: np.ndarray, temp: float) -> np.ndarray:
    """Per-row CE of teacher rows vs student columns, positive on the
    diagonal, written out: -log(exp(S_ii) / sum_j exp(S_ij))."""
    t_hat = t / np.sqrt((t**2).sum(axis=1, keepdims=True))
    s_hat = s / np.sqrt((s**2).sum(axis=1, keepdims=True))
    sim = t_hat @ s_hat.T / temp
    rows = []
    for i in range(sim.shape[0]):
        rows.append(-sim[i, i] + np.log(np.exp(sim[i]).sum()))
    return np.array(rows)


def build(**kwargs):
    return MODELS.build(dict(type='ContrastiveLogitKDLoss', **kwargs))


def as_t(a: np.ndarray, **kwargs) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float32, **kwargs)


@pytest.mark.parametrize('temp', [1.0, 0.5])
def test_value_3x4_by_hand(temp):
    expected = np_ckd_rows(T_3x4, S_3x4, temp).mean()
    loss = build(temperature=temp, loss_weight=3.0)(as_t(S_3x4), as_t(T_3x4))
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(3.0 * expected, rel=1e-5)
    # and spelled out entry by entry for row 0 at T = 1
    if temp == 1.0:
        t0 = T_3x4[0] / np.linalg.norm(T_3x4[0])
        cos = [t0 @ (S_3x4[j] / np.linalg.norm(S_3x4[j])) for j in range(3)]
        row0 = -np.log(np.exp(cos[0]) / sum(np.exp(c) for c in cos))
        assert np_ckd_rows(T_3x4, S_3x4, 1.0)[0] == pytest.approx(row0)


def test_symmetric_value():
    expected = 0.5 * (np_ckd_rows(T_3x4, S_3x4, 1.0).mean() +
                      np_ckd_rows(S_3x4, T_3x4, 1.0).mean())
    loss = build(symmetric=True)(as_t(S_3x4), as_t(T_3x4))
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert loss.item() != pytest.approx(
        build()(as_t(S_3x4), as_t(T_3x4)).item(), rel=1e-3)


def test_per_sample_scale_invariance():
    base = build(symmetric=True)(as_t(S_3x4), as_t(T_3x4)).item()
    s_scaled = S_3x4 * np.array([[2.0], [0.5], [7.0]])
    t_scaled = T_3x4 * np.array([[3.0], [1e-3], [40.0]])
    assert build(symmetric=True)(as_t(s_scaled), as_t(T_3x4)).item() == \
        pytest.approx(base, rel=1e-5)
    assert build(symmetric=True)(as_t(S_3x4), as_t(t_scaled)).item() == \
        pytest.approx(base, rel=1e-5)


def test_batch_of_one_is_zero_and_backward_works():
    s = torch.randn(1, 10, requires_grad=True)
    loss = build(loss_weight=100.0, symmetric=True)(s, torch.randn(1, 10))
    assert loss.item() == 0.0
    loss.backward()
    assert s.grad is not None and torch.equal(s.grad, torch.zeros(1, 10))


def test_gradient_only_to_student():
    s = as_t(S_3x4, requires_grad=True)
    t = as_t(T_3x4, requires_grad=True)
    build(symmetric=True)(s, t).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert t.grad is None


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_low_precision_and_huge_logits(dtype):
    s = (as_t(S_3x4) * 1e4).to(dtype).requires_grad_()
    t = (as_t(T_3x4) * -1e4).to(dtype)
    loss = build()(s, t)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    expected = np_ckd_rows(T_3x4 * -1.0, S_3x4, 1.0).mean()
    assert loss.item() == pytest.approx(expected, rel=1e-2)
    loss.backward()
    assert torch.isfinite(s.grad.float()).all()


@pytest.mark.parametrize('kwargs, field', [
    (dict(temperature=0.0), 'temperature'),
    (dict(loss_weight=-1.0), 'loss_weight'),
    (dict(symmetric=1), 'symmetric'),
    (dict(gather_negatives='yes'), 'gather_negatives'),
])
def test_bad_args(kwargs, field):
    with pytest.raises(ValueError, match=f'`{field}`'):
        build(**kwargs)


# ----------------------------------------------------------- 2-process gloo
def _dist_worker(rank: int, world: int, store: str, out_dir: str,
                 s_full: torch.Tensor, t_full: torch.Tensor) -> None:
    import torch.distributed as dist
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{store}',
                            rank=rank, world_size=world)
    try:
        half = s_full.shape[0] // world
        rows = slice(rank * half, (rank + 1) * half)
        result = {}
        for sym in (False, True):
            for gather in (False, True):
                s = s_full[rows].clone().requires_grad_()
                loss = build(symmetric=sym, gather_negatives=gather)(
                    s, t_full[rows])
                loss.backward()
                result[(sym, gather)] = (loss.detach(), s.grad.clone())
        # unequal per-rank batches (2 and 4 rows) are padded internally
        uneven = slice(0, 2) if rank == 0 else slice(2, s_full.shape[0])
        s = s_full[uneven].clone().requires_grad_()
        loss = build(gather_negatives=True)(s, t_full[uneven])
        loss.backward()
        result['uneven'] = (loss.detach(), s.grad.clone())
        torch.save(result, os.path.join(out_dir, f'rank{rank}.pt'))
    finally:
        dist.destroy_process_group()


def test_gather_negatives_two_processes(tmp_path):
    torch.manual_seed(0)
    world, batch = 2, 6
    s_full, t_full = torch.randn(batch, 5), torch.randn(batch, 5)
    torch.multiprocessing.start_processes(
        _dist_worker, args=(world, str(tmp_path / 'store'), str(tmp_path),
                            s_full, t_full),
        nprocs=world, join=True, start_method='fork')
    res = [torch.load(tmp_path / f'rank{r}.pt') for r in range(world)]
    s_np, t_np = s_full.double().numpy(), t_full.double().numpy()
    half = batch // world
    full_rows = np_ckd_rows(t_np, s_np, 1.0)
    full_rows_sym = 0.5 * (full_rows + np_ckd_rows(s_np, t_np, 1.0))
    for r in range(world):
        sl = slice(r * half, (r + 1) * half)
        # per-rank negatives: the loss of the half batch on its own
        local = np_ckd_rows(t_np[sl], s_np[sl], 1.0).mean()
        assert res[r][(False, False)][0].item() == pytest.approx(local,
                                                                 rel=1e-5)
        # gathered: this rank's rows of the full-batch similarity matrix
        gathered = res[r][(False, True)][0].item()
        assert gathered == pytest.approx(full_rows[sl].mean(), rel=1e-5)
        assert gathered != pytest.approx(local, rel=1e-3)
        assert res[r][(True, True)][0].item() == pytest.approx(
            full_rows_sym[sl].mean(), rel=1e-5)
    for r, sl in enumerate((slice(0, 2), slice(2, batch))):
        assert res[r]['uneven'][0].item() == pytest.approx(
            full_rows[sl].mean(), rel=1e-5)
    # the ranks' mean (what DDP optimises) is the single-process loss
    for sym in (False, True):
        mean_gathered = np.mean([res[r][(sym, True)][0].item()
                                 for r in range(world)])
        s = s_full.clone().requires_grad_()
        single = build(symmetric=sym)(s, t_full)
        assert mean_gathered == pytest.approx(single.item(), rel=1e-5)
        # gradients: each rank's rows receive d(sum_r L_r)/ds = world * dL/ds
        single.backward()
        grads = torch.cat([res[r][(sym, True)][1] for r in range(world)])
        torch.testing.assert_close(grads, world * s.grad, rtol=1e-4,
                                   atol=1e-6)
