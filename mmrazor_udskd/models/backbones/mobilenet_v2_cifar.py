"""MobileNetV2 for 32x32 / 64x64 inputs."""
from typing import Any

from mmpretrain.models.backbones import MobileNetV2
from mmpretrain.registry import MODELS

__all__ = ['MobileNetV2_CIFAR']


@MODELS.register_module()
class MobileNetV2_CIFAR(MobileNetV2):  # noqa: N801
    """MobileNetV2 with the two first down-samplings removed.

    The common CIFAR adaptation of MobileNetV2 (as mmpretrain's
    ``ResNet_CIFAR`` does for ResNet): the stem convolution and the first
    stride-2 inverted-residual stage use stride 1, so a 32x32 input reaches
    the last stage at 4x4 instead of 1x1. Everything else is mmpretrain's
    ``MobileNetV2``.

    Args:
        **kwargs (Any): Passed to :class:`mmpretrain.models.MobileNetV2`.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conv1.conv.stride = (1, 1)
        # arch_settings rows: [expand, channels, blocks, stride]; layer2 is
        # the first stage with stride 2.
        first_block = self.layer2[0]
        for module in first_block.modules():
            if getattr(module, 'stride', None) == (2, 2):
                module.stride = (1, 1)
