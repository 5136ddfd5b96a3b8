"""``mmrazor_udskd.benchmark.step`` (``tools/benchmark_precision.py``): the
CIFAR-size networks, the timed step and the table of medians."""
import math

import mmrazor_udskd  # noqa: F401  isort:skip  (before mmrazor)
import pytest
import torch

from mmrazor_udskd.benchmark import step


@pytest.mark.parametrize('name', sorted(step.CIFAR_NETS))
def test_cifar_nets_give_logits(name):
    net = step.build_cifar_net(name)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    if name == 'resnet18_c64':  # the usual CIFAR ResNet-18, 10 classes
        assert sum(p.numel() for p in net.parameters()) == 11_173_962


def test_median_table():
    times = {'n/fp32/contiguous': [1.0, 3.0, 2.0],
             'n/bf16/contiguous': [4.0, 4.0, 5.0],
             'n/fp32/channels_last': [1.0]}
    rows = step.median_table(times)
    assert rows[0] == dict(net='n', layout='contiguous', fp32=2.0, bf16=4.0,
                           bf16_speedup=0.5)
    assert rows[1] == dict(net='n', layout='channels_last', fp32=1.0)


def test_time_train_steps_trains_every_variant():
    times = step.time_train_steps(['resnet18_c16'], ['fp32', 'bf16'],
                                  ['contiguous', 'channels_last'],
                                  batch_size=2, resolution=32, repeats=1,
                                  warmup=0)
    assert set(times) == {f'resnet18_c16/{p}/{layout}' for p in
                          ('fp32', 'bf16') for layout in
                          ('contiguous', 'channels_last')}
    assert all(len(v) == 1 and math.isfinite(v[0]) and v[0] > 0
               for v in times.values())
