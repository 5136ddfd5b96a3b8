"""``peer_mode='sequential'``: one student's graph at a time, the same
losses, updates, BatchNorm statistics and random numbers as 'parallel'."""
import contextlib
import copy

import pytest
import torch

from ...helpers.tiny_dual import (TINY_CLASSES, assert_logs_close,
                                  build_tiny_dual, load_benchmark_tool,
                                  separate_sgd, tiny_batch, tiny_net)


def _dropout_net(width: int) -> dict:
    """A tiny classifier whose head draws random numbers (dropout)."""
    cfg = tiny_net(width)
    cfg['head'] = dict(type='StackedLinearClsHead', num_classes=TINY_CLASSES,
                       in_channels=width, mid_channels=[8],
                       dropout_rate=0.5,
                       loss=dict(type='CrossEntropyLoss', loss_weight=1.0))
    return cfg


def _pair(**kwargs):
    ref = build_tiny_dual(peer_mode='parallel', **kwargs)
    seq = build_tiny_dual(peer_mode='sequential', **kwargs)
    seq.load_state_dict(ref.state_dict())
    return ref, seq


def _train(model, steps: int = 3):
    wrappers = separate_sgd(model)
    logs = []
    torch.manual_seed(123)  # the dropout masks of both runs
    for i in range(steps):
        logs.append(model.train_step(tiny_batch(8, 8, seed=i), wrappers))
    return logs


def _assert_same_state(a, b, atol=1e-6):
    sa, sb = a.state_dict(), b.state_dict()
    assert set(sa) == set(sb)
    for key in sa:
        torch.testing.assert_close(sa[key], sb[key], atol=atol, rtol=1e-5,
                                   msg=key)


@pytest.mark.parametrize('students', [
    None,  # r18 + mbv2 tiny nets
    dict(r18=_dropout_net(4), mbv2=_dropout_net(5)),
    dict(a=tiny_net(4), b=_dropout_net(5), c=tiny_net(3)),
])
def test_sequential_equals_parallel(students):
    kwargs = {} if students is None else dict(students=students)
    ref, seq = _pair(**kwargs)
    ref_logs, seq_logs = _train(ref), _train(seq)
    for a, b in zip(seq_logs, ref_logs):
        assert_logs_close(a, b, atol=1e-6, rtol=1e-5)
    # weights, SGD-updated over three steps, and BatchNorm running
    # statistics (updated once per step, not twice) agree
    _assert_same_state(seq, ref)
    # the random stream ends where 'parallel' leaves it
    torch.manual_seed(7)
    _train(ref, 1)
    after_ref = torch.rand(3)
    torch.manual_seed(7)
    _train(seq, 1)
    torch.testing.assert_close(torch.rand(3), after_ref)


def test_sequential_with_dropout_differs_without_rng_replay(monkeypatch):
    """Negative control: without replaying the generator the second forward
    draws other dropout masks, and the runs part."""
    import mmrazor_udskd.models.algorithms.peer_steps as msd
    students = dict(r18=_dropout_net(4), mbv2=_dropout_net(5))
    ref, seq = _pair(students=students)
    monkeypatch.setattr(msd, 'set_rng_state', lambda device, state: None)
    ref_logs, seq_logs = _train(ref, 1), _train(seq, 1)
    assert abs(float(ref_logs[0]['mbv2.loss']) -
               float(seq_logs[0]['mbv2.loss'])) > 1e-4


def test_sequential_without_bn_restore_double_counts(monkeypatch):
    """Negative control: not restoring the BatchNorm buffers after the peer
    forward updates the running statistics twice per step."""
    import mmrazor_udskd.models.algorithms.peer_steps as msd
    ref, seq = _pair()
    monkeypatch.setattr(msd, 'kept_norm_stats',
                        lambda module: contextlib.nullcontext())
    _train(ref, 1), _train(seq, 1)
    key = 'mbv2.backbone.bn1.num_batches_tracked'
    assert int(seq.state_dict()[key]) == 2 * int(ref.state_dict()[key])


def test_sequential_needs_separate_wrappers():
    from mmengine.optim import build_optim_wrapper
    _, seq = _pair()
    single = build_optim_wrapper(
        seq, dict(optimizer=dict(type='SGD', lr=0.1)))
    with pytest.raises(ValueError, match='one optimizer wrapper per student'):
        seq.train_step(tiny_batch(4, 8), single)


def test_bad_peer_mode_names_the_field():
    with pytest.raises(ValueError, match=r'model\.peer_mode'):
        build_tiny_dual(peer_mode='lazy')


def test_sequential_holds_less_memory_real_nets():
    """On the real in100 R18 + MBv2 at 96 px: the sequential step's peak in
    tensors (the profiler's allocation record, what the CUDA counter
    measures) is below the parallel one's: one student's graph at a time."""
    from mmrazor_udskd.utils.memory import peak_tensor_bytes
    tool = load_benchmark_tool()
    device = torch.device('cpu')
    cfg = 'configs/udskd/udskd_logits_resnet50_resnet18-mobilenet-v2_' \
          '8xb8_in100.py'
    data = tool.make_batch(16, 96, 100)
    peaks = {}
    for mode in ('parallel', 'sequential'):
        model, wrapper, _ = tool.build_from_config(
            cfg, device, model_options=dict(peer_mode=mode))
        model.train_step(copy.deepcopy(data), wrapper)  # momentum buffers
        batch = copy.deepcopy(data)
        peaks[mode] = peak_tensor_bytes(
            lambda m=model, w=wrapper: m.train_step(batch, w))
        del model, wrapper
    assert peaks['sequential'] < 0.85 * peaks['parallel'], peaks
