"""InplaceReLU6: nn.ReLU6's values and gradients, one saved tensor less."""
import mmrazor_udskd  # noqa: F401  isort:skip  (registers the layer)
import pytest
import torch
from mmcv.cnn import ConvModule, build_activation_layer
from mmengine.registry import DefaultScope
from mmpretrain.models.backbones import MobileNetV2
from torch import nn

from mmrazor_udskd.models.layers import InplaceReLU6, relu6_saving_output


def _probe() -> torch.Tensor:
    # both boundaries, both sides of them, and far outside
    return torch.tensor([-3.0, -1e-7, 0.0, 1e-7, 2.5, 6.0 - 1e-6, 6.0,
                         6.0 + 1e-6, 9.0])


@pytest.mark.parametrize('inplace', [False, True])
def test_values_and_gradients_equal_relu6(inplace):
    x_ref = _probe().requires_grad_()
    x_our = _probe().requires_grad_()
    grad = torch.arange(1.0, 10.0)
    # in-place ops need a non-leaf input, as inside a network
    ref = nn.ReLU6(inplace=inplace)(x_ref * 1.0)
    ours = InplaceReLU6(inplace=inplace)(x_our * 1.0)
    torch.testing.assert_close(ours, ref, rtol=0, atol=0)
    ref.backward(grad)
    ours.backward(grad)
    torch.testing.assert_close(x_our.grad, x_ref.grad, rtol=0, atol=0)
    # the hand-computed gradient: grad where 0 < x < 6, else 0
    expected = torch.tensor([0, 0, 0, 4, 5, 6, 0, 0, 0], dtype=torch.float)
    torch.testing.assert_close(x_our.grad, expected, rtol=0, atol=0)


def test_inplace_writes_the_input_and_plain_does_not():
    x = torch.tensor([-1.0, 7.0], requires_grad=True)
    y = x * 1.0
    out = relu6_saving_output(y, inplace=True)
    assert out.data_ptr() == y.data_ptr()
    assert y.tolist() == [0.0, 6.0]
    z = x * 1.0
    out = relu6_saving_output(z, inplace=False)
    assert out.data_ptr() != z.data_ptr() and z.tolist() == [-1.0, 7.0]
    # no graph: no autograd.Function at all
    with torch.no_grad():
        w = torch.tensor([-2.0, 3.0])
        assert relu6_saving_output(w, inplace=True).tolist() == [0.0, 3.0]


def _saved_bytes(fn) -> int:
    """Bytes of the distinct storages autograd keeps for ``fn()``."""
    storages = {}

    def pack(t):
        st = t.untyped_storage()
        storages[st.data_ptr()] = st.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, sum(storages.values())


def _unit(act: dict) -> nn.Module:
    """Conv-BN-act and the next convolution, with the same seeded weights
    whatever the activation."""
    torch.manual_seed(1)
    return nn.Sequential(
        ConvModule(3, 8, 3, padding=1, norm_cfg=dict(type='BN'),
                   act_cfg=act), nn.Conv2d(8, 4, 1))


def test_conv_bn_act_keeps_one_activation_less():
    """Conv-BN-ReLU6 and the next convolution: nn.ReLU6 keeps a copy of its
    input besides the output the next convolution keeps; ours keeps none."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 16, 16)

    out_ref, ref = _saved_bytes(lambda: _unit(dict(type='ReLU6'))(x))
    out_our, ours = _saved_bytes(
        lambda: _unit(dict(type='InplaceReLU6'))(x))
    out_relu, relu = _saved_bytes(lambda: _unit(dict(type='ReLU'))(x))
    activation = 2 * 8 * 16 * 16 * 4  # the BN output, fp32
    assert ref - ours == activation
    assert ours == relu  # as little as ReLU, which saves its output
    torch.testing.assert_close(out_our, out_ref, rtol=0, atol=0)


def test_mobilenet_v2_same_outputs_gradients_and_less_saved():
    x = torch.randn(2, 3, 64, 64)

    def net(act):
        torch.manual_seed(0)
        model = MobileNetV2(widen_factor=1.0, act_cfg=act)
        model.init_weights()
        model.train()  # mmpretrain's train() returns None
        return model

    ref_net = net(dict(type='ReLU6'))
    our_net = net(dict(type='InplaceReLU6'))
    assert any(isinstance(m, InplaceReLU6) for m in our_net.modules())
    assert not any(isinstance(m, nn.ReLU6) for m in our_net.modules())
    act_bytes = []
    for module in ref_net.modules():
        if isinstance(module, nn.ReLU6):
            module.register_forward_hook(lambda m, i, o: act_bytes.append(
                o.numel() * o.element_size()))
    out_ref, ref_bytes = _saved_bytes(lambda: ref_net(x)[-1])
    out_our, our_bytes = _saved_bytes(lambda: our_net(x)[-1])
    torch.testing.assert_close(out_our, out_ref, rtol=0, atol=0)
    # one activation less per ReLU6 whose output a convolution keeps: all
    # but the last (the backbone's output, kept by no layer here)
    assert len(act_bytes) == 35
    assert ref_bytes - our_bytes == sum(act_bytes[:-1])
    out_ref.square().sum().backward()
    out_our.square().sum().backward()
    for (name, p_ref), (_, p_our) in zip(ref_net.named_parameters(),
                                         our_net.named_parameters()):
        torch.testing.assert_close(p_our.grad, p_ref.grad, rtol=1e-6,
                                   atol=1e-7, msg=name)
    for (name, b_ref), (_, b_our) in zip(ref_net.named_buffers(),
                                         our_net.named_buffers()):
        torch.testing.assert_close(b_our, b_ref, rtol=0, atol=0, msg=name)


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmrazor'])
def test_built_by_mmcv_from_any_scope(scope):
    with DefaultScope.overwrite_default_scope(scope):
        layer = build_activation_layer(dict(type='InplaceReLU6',
                                            inplace=False))
    assert isinstance(layer, InplaceReLU6) and not layer.inplace


def test_under_torch_compile_same_values_and_gradients():
    """model.torch_compile traces the autograd.Function (aot_eager: the
    graph capture and autograd split, no code generation)."""
    x = torch.randn(2, 3, 16, 16)

    ref, ours = _unit(dict(type='ReLU6')), _unit(dict(type='InplaceReLU6'))
    compiled = torch.compile(ours, backend='aot_eager')
    out_ref, out_our = ref(x), compiled(x)
    torch.testing.assert_close(out_our, out_ref)
    out_ref.square().sum().backward()
    out_our.square().sum().backward()
    for p, q in zip(ref.parameters(), ours.parameters()):
        torch.testing.assert_close(q.grad, p.grad)
