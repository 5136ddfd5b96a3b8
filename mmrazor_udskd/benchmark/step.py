"""One network's training step (forward, fp32 cross-entropy, backward, SGD
step) timed per image in a chosen precision and memory format: the
measurements behind the default precision policy."""
import statistics
from typing import Dict, List, Sequence

import torch
import torch.nn.functional as F
from mmpretrain.models.backbones import ResNet_CIFAR
from torch import nn

from ..models.backbones import MobileNetV2_CIFAR
from ..models.utils.precision import precision_context
from .timing import Case, time_interleaved

__all__ = [
    'CIFAR_NETS', 'build_cifar_net', 'time_train_steps', 'median_table'
]

#: CIFAR-size networks by name: backbone configs (CIFAR stems)
CIFAR_NETS: Dict[str, dict] = {
    'resnet18_c16': dict(type='ResNet_CIFAR', depth=18, base_channels=16),
    'resnet18_c64': dict(type='ResNet_CIFAR', depth=18, base_channels=64),
    'resnet50_c16': dict(type='ResNet_CIFAR', depth=50, base_channels=16),
    'mobilenetv2_w0.5': dict(type='MobileNetV2_CIFAR', widen_factor=0.5),
    'mobilenetv2_w1.0': dict(type='MobileNetV2_CIFAR', widen_factor=1.0),
}


def build_cifar_net(name: str, num_classes: int = 10) -> nn.Module:
    """Backbone of :data:`CIFAR_NETS`, global pooling and a linear head.

    Args:
        name (str): A key of :data:`CIFAR_NETS`.
        num_classes (int): Classes of the head. Defaults to 10.

    Returns:
        nn.Module: The network (train mode), logits for ``(B, 3, H, W)``.
    """
    cfg = dict(CIFAR_NETS[name])
    backbone_type = dict(ResNet_CIFAR=ResNet_CIFAR,
                         MobileNetV2_CIFAR=MobileNetV2_CIFAR)[cfg.pop('type')]
    backbone = backbone_type(**cfg)
    backbone.eval()  # (mmpretrain's train() returns None: no chaining)
    with torch.no_grad():
        channels = backbone(torch.zeros(1, 3, 32, 32))[-1].shape[1]
    net = nn.Sequential(backbone, _LastPooled(),
                        nn.Linear(channels, num_classes))
    net.train()
    return net


class _LastPooled(nn.Module):
    """Global average pool of a backbone's last output."""

    def forward(self, outs: Sequence[torch.Tensor]) -> torch.Tensor:
        return outs[-1].mean(dim=(2, 3))


def time_train_steps(names: Sequence[str], precisions: Sequence[str],
                     layouts: Sequence[str], batch_size: int = 128,
                     resolution: int = 32, repeats: int = 3,
                     warmup: int = 1) -> Dict[str, List[float]]:
    """Milliseconds per image of a training step, for every network,
    precision and layout, timed interleaved (:func:`time_interleaved`).

    Args:
        names (Sequence[str]): Keys of :data:`CIFAR_NETS`.
        precisions (Sequence[str]): ``'fp32'`` / ``'bf16'``.
        layouts (Sequence[str]): ``'contiguous'`` / ``'channels_last'``.
        batch_size (int): Images per step. Defaults to 128.
        resolution (int): Height and width. Defaults to 32.
        repeats (int): Timed rounds. Defaults to 3.
        warmup (int): Untimed rounds first. Defaults to 1.

    Returns:
        Dict[str, List[float]]: ms per image per round, keyed
        ``'<net>/<precision>/<layout>'``.
    """
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(batch_size, 3, resolution, resolution,
                         generator=gen)
    labels = torch.randint(0, 10, (batch_size, ), generator=gen)
    cases = []
    for name in names:
        for layout in layouts:
            fmt = (torch.channels_last if layout == 'channels_last' else
                   torch.contiguous_format)
            for precision in precisions:
                torch.manual_seed(0)
                net = build_cifar_net(name).to(memory_format=fmt)
                opt = torch.optim.SGD(net.parameters(), lr=0.01,
                                      momentum=0.9)
                inputs = images.contiguous(memory_format=fmt)

                def step(net=net, opt=opt, inputs=inputs,
                         precision=precision) -> None:
                    with precision_context(precision, 'cpu'):
                        logits = net(inputs)
                    F.cross_entropy(logits.float(), labels).backward()
                    opt.step()
                    opt.zero_grad(set_to_none=True)

                cases.append(Case(f'{name}/{precision}/{layout}', run=step))
    times, _ = time_interleaved(cases, repeats, warmup,
                                torch.device('cpu'))
    return {k: [v * 1e3 / batch_size for v in vals]
            for k, vals in times.items()}


def median_table(times: Dict[str, List[float]]) -> List[dict]:
    """Rows of medians: one per network and layout, fp32 vs bf16.

    Args:
        times (Dict[str, List[float]]): What :func:`time_train_steps`
            returns.

    Returns:
        List[dict]: ``net``, ``layout``, ``fp32``, ``bf16`` (ms per image)
        and ``bf16_speedup`` (fp32 / bf16).
    """
    rows: Dict[tuple, dict] = {}
    for key, values in times.items():
        net, precision, layout = key.split('/')
        row = rows.setdefault((net, layout), dict(net=net, layout=layout))
        row[precision] = statistics.median(values)
    for row in rows.values():
        if 'fp32' in row and 'bf16' in row:
            row['bf16_speedup'] = row['fp32'] / row['bf16']
    return list(rows.values())
