"""model.activation_checkpoint: the same losses, weights and BatchNorm
statistics as without it, less memory kept by the forward."""
import contextlib
import copy

import mmrazor_udskd  # noqa: F401  isort:skip
import pytest
import torch
from mmpretrain.models.backbones import MobileNetV2

from mmrazor_udskd.models.utils import (checkpoint_submodules,
                                        is_checkpointed)
from mmrazor_udskd.utils.memory import tensor_memory_curve
from ...helpers.tiny_dual import (assert_logs_close, build_tiny_dual,
                                  separate_sgd, tiny_batch)

#: the tiny students' one ResNet_CIFAR stage: two BasicBlocks with BN
PATTERNS = dict(mbv2=['backbone.layer1.*'], r18=['backbone.conv1'])


def _pair(peer_mode='parallel', spec=PATTERNS):
    ref = build_tiny_dual(peer_mode=peer_mode)
    ckpt = build_tiny_dual(peer_mode=peer_mode, activation_checkpoint=spec)
    ckpt.load_state_dict(ref.state_dict())
    return ref, ckpt


def _train(model, steps=3):
    wrappers = separate_sgd(model)
    return [model.train_step(tiny_batch(8, 8, seed=i), wrappers)
            for i in range(steps)]


def _assert_same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)  # names unchanged by the wrapping
    for key in sa:
        torch.testing.assert_close(sa[key], sb[key], atol=1e-6, rtol=1e-5,
                                   msg=key)


@pytest.mark.parametrize('peer_mode', ['parallel', 'sequential'])
def test_checkpointed_students_train_identically(peer_mode):
    ref, ckpt = _pair(peer_mode)
    assert ckpt.checkpointed == dict(
        mbv2=['backbone.layer1.0', 'backbone.layer1.1'],
        r18=['backbone.conv1'])
    for a, b in zip(_train(ckpt), _train(ref)):
        assert_logs_close(a, b, atol=1e-6, rtol=1e-5)
    _assert_same_state(ckpt, ref)
    key = 'mbv2.backbone.layer1.0.bn1.num_batches_tracked'
    assert int(ckpt.state_dict()[key]) == 3


def test_without_kept_statistics_bn_counts_twice(monkeypatch):
    """Negative control: the recomputation updates BatchNorm again when its
    statistics are not written back (what plain checkpointing does)."""
    from mmrazor_udskd.models.utils import activation_checkpoint as ac
    monkeypatch.setattr(ac, 'kept_norm_stats',
                        lambda module: contextlib.nullcontext())
    ref, ckpt = _pair()
    _train(ref, 1), _train(ckpt, 1)
    key = 'mbv2.backbone.layer1.0.bn1.num_batches_tracked'
    assert int(ckpt.state_dict()[key]) == 2 * int(ref.state_dict()[key])
    mean = 'mbv2.backbone.layer1.0.bn1.running_mean'
    assert not torch.allclose(ckpt.state_dict()[mean],
                              ref.state_dict()[mean])


def test_bad_specs_name_the_field():
    with pytest.raises(ValueError, match=r'activation_checkpoint.r50'):
        build_tiny_dual(activation_checkpoint=dict(r50=['backbone']))
    with pytest.raises(ValueError, match=r'activation_checkpoint.mbv2.*'
                       r"\['backbone.layer9'\] match no submodule"):
        build_tiny_dual(activation_checkpoint=dict(mbv2=['backbone.layer9']))
    with pytest.raises(ValueError, match='list of submodule name patterns'):
        build_tiny_dual(activation_checkpoint=dict(mbv2='backbone.layer1'))


def _mbv2():
    torch.manual_seed(0)
    net = MobileNetV2(widen_factor=1.0)
    net.init_weights()
    net.train()  # mmpretrain's train() returns None
    return net


ALL_BLOCKS = ['conv1', 'layer*.*', 'conv2']


def test_nested_matches_keep_the_outer_segment_only():
    net = _mbv2()
    names = checkpoint_submodules(net, ['layer2', 'layer2.*', 'conv2'])
    assert names == ['layer2', 'conv2']
    assert not is_checkpointed(net.layer2[0])
    assert is_checkpointed(net.layer2) and is_checkpointed(net.conv2)


def test_forward_keeps_less_and_gradients_match():
    x = torch.randn(4, 3, 64, 64)
    ref, ckpt = _mbv2(), _mbv2()
    checkpoint_submodules(ckpt, ALL_BLOCKS)
    kept = {}
    for name, net in (('ref', ref), ('ckpt', ckpt)):
        holder = []
        # the graph stays alive in `holder`: `end` is what the forward keeps
        kept[name] = tensor_memory_curve(
            lambda n=net: holder.append(n(x)[-1]))[1]
        holder[0].square().mean().backward()
    assert kept['ckpt'] < 0.15 * kept['ref'], kept
    for (name, p), (_, q) in zip(ref.named_parameters(),
                                 ckpt.named_parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6,
                                   msg=name)
    for (name, p), (_, q) in zip(ref.named_buffers(), ckpt.named_buffers()):
        torch.testing.assert_close(q, p, rtol=1e-5, atol=1e-6, msg=name)


def test_eval_and_no_grad_run_the_plain_forward(monkeypatch):
    from mmrazor_udskd.models.utils import activation_checkpoint as ac
    calls = []
    real = ac.checkpoint
    monkeypatch.setattr(ac, 'checkpoint',
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    net = _mbv2()
    checkpoint_submodules(net, ['layer1.*'])
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        net(x)
    net.eval()
    net(x)
    assert calls == []
    net.train()
    net(x)
    assert len(calls) == 1


def test_deepcopy_runs_the_copys_own_weights():
    """EMA teachers and model wrappers deep-copy students: the copy's
    forward must be bound to the copy, not to the original."""
    net = _mbv2()
    checkpoint_submodules(net, ALL_BLOCKS)
    twin = copy.deepcopy(net)
    assert is_checkpointed(twin.layer3[0])
    with torch.no_grad():
        twin.conv1.conv.weight.add_(1.0)
    x = torch.randn(2, 3, 64, 64)
    out, out_twin = net(x)[-1], twin(x)[-1]
    assert (out - out_twin).abs().max() > 1e-3 * out.abs().max()
    fresh = _mbv2()
    fresh.load_state_dict(twin.state_dict())
    torch.testing.assert_close(fresh(x)[-1], twin(x)[-1])
