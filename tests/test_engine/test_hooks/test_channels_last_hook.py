"""ChannelsLastHook: weights change layout, results and the optimizer's
hold on the parameters do not."""
from types import SimpleNamespace

import torch
from mmengine.registry import HOOKS
from torch import nn

from mmrazor_udskd.engine.hooks import ChannelsLastHook


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8),
                         nn.ReLU(), nn.Conv2d(8, 4, 1), nn.Flatten(),
                         nn.Linear(4 * 6 * 6, 3))


def test_converts_weights_keeps_outputs_and_parameter_identity():
    net = _net().eval()
    x = torch.randn(2, 3, 6, 6)
    ref = net(x)
    params = [id(p) for p in net.parameters()]
    hook = HOOKS.build(dict(type='ChannelsLastHook'))
    assert isinstance(hook, ChannelsLastHook)
    hook.before_run(SimpleNamespace(model=net))
    assert hook.applied
    for conv in (net[0], net[3]):
        assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    # re-laid out (a 1x1 kernel is both layouts at once, a 3x3 is not)
    assert not net[0].weight.is_contiguous()
    # an optimizer built earlier still updates the same Parameter objects
    assert [id(p) for p in net.parameters()] == params
    out = net(x)  # contiguous input, channels-last weights
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)


def test_skips_devices_not_listed():
    net = _net()
    hook = ChannelsLastHook(devices=('cuda', ))
    hook.before_train(SimpleNamespace(model=net))
    assert not hook.applied
    assert net[0].weight.is_contiguous()
