"""Channels-last weights for any model, not only the multi-student ones."""
import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

__all__ = ['ChannelsLastHook']


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Put the whole model's 4-D weights in ``torch.channels_last``.

    The multi-student algorithms take ``memory_format='channels_last'``
    themselves; this hook gives the same layout to a plain classifier (e.g.
    a teacher trained with hard labels) or MMRazor's ``SingleTeacherDistill``.
    A convolution whose weight is channels-last produces a channels-last
    output whatever the input's layout, so converting the weights is enough.
    The math is unchanged (same result up to float rounding); on a 2-core
    AVX2 CPU it made fp32 train steps of the quarter-width CIFAR ResNet-18
    and ResNet-50 1.33x and 1.35x, of a half-width MobileNetV2 1.46x faster
    (``docs/benchmark.md``).

    It runs in ``before_run`` (before checkpoints are loaded:
    ``load_state_dict`` copies into the converted tensors and keeps their
    layout) and again in ``before_train`` (optimizer states built later
    follow the parameters' layout).

    Args:
        devices (tuple[str]): Device types on which to convert.
            Defaults to ``('cpu', 'cuda')``.
    """

    priority = 'VERY_HIGH'

    def __init__(self, devices: tuple = ('cpu', 'cuda')) -> None:
        super().__init__()
        self.devices = tuple(devices)
        self.applied = False

    def _convert(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        param = next(model.parameters(), None)
        if param is None or param.device.type not in self.devices:
            return
        model.to(memory_format=torch.channels_last)
        if not self.applied:
            print_log('ChannelsLastHook: model weights are channels-last',
                      logger='current')
        self.applied = True

    def before_run(self, runner) -> None:
        """Convert the model.

        Args:
            runner (Runner): The runner.
        """
        self._convert(runner)

    def before_train(self, runner) -> None:
        """Convert again (a no-op unless something replaced tensors).

        Args:
            runner (Runner): The runner.
        """
        self._convert(runner)
