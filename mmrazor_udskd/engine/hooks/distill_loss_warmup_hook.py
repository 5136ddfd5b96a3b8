"""Linear warm-up of distillation loss weights, epoch by epoch."""
from typing import Dict, Sequence

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

__all__ = ['DistillLossWarmupHook', 'warmup_factor']


def warmup_factor(epoch: int, warmup_epochs: int) -> float:
    """The factor of epoch ``epoch`` (0-based) of a linear warm-up.

    DKD (Zhao et al., arXiv 2203.08679) scales its loss by
    ``min(e / warmup, 1)`` with the epoch ``e`` counted from 1, i.e.
    ``min((epoch + 1) / warmup_epochs, 1)`` here: ``1 / warmup_epochs`` in
    the first epoch, 1 from epoch ``warmup_epochs - 1`` on.

    Args:
        epoch (int): 0-based epoch.
        warmup_epochs (int): Length of the warm-up; 0 means none.

    Returns:
        float: The factor in (0, 1].
    """
    if warmup_epochs <= 0:
        return 1.0
    return min((epoch + 1) / warmup_epochs, 1.0)


@HOOKS.register_module()
class DistillLossWarmupHook(Hook):
    """Scale distillation losses of MMRazor's ``ConfigurableDistiller`` by
    :func:`warmup_factor` of the current epoch.

    The configured ``loss_weight`` of each named loss is read once, when
    training starts, and each epoch sets ``loss_weight = factor * base``.
    The factor depends on the epoch only, so a resumed run continues the
    same ramp. The factor is logged as ``train/distill_warmup``.

    Args:
        loss_names (Sequence[str]): Keys of ``distiller.distill_losses``,
            e.g. ``('loss_dkd', )``.
        warmup_epochs (int): Epochs until the full weight. Defaults to 20
            (DKD's CIFAR-100 setting).
    """

    priority = 'NORMAL'

    def __init__(self, loss_names: Sequence[str],
                 warmup_epochs: int = 20) -> None:
        super().__init__()
        if isinstance(loss_names, str):
            loss_names = [loss_names]
        self.loss_names = list(loss_names)
        self.warmup_epochs = int(warmup_epochs)
        self._base: Dict[str, float] = {}

    def _losses(self, runner) -> dict:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        losses = model.distiller.distill_losses
        missing = [n for n in self.loss_names if n not in losses]
        if missing:
            raise KeyError(f'DistillLossWarmupHook: no distill loss named '
                           f'{missing}; the distiller has {list(losses)}')
        return {n: losses[n] for n in self.loss_names}

    def before_train(self, runner) -> None:
        self._base = {
            name: float(loss.loss_weight)
            for name, loss in self._losses(runner).items()
        }

    def before_train_epoch(self, runner) -> None:
        factor = warmup_factor(runner.epoch, self.warmup_epochs)
        for name, loss in self._losses(runner).items():
            loss.loss_weight = factor * self._base[name]
        runner.message_hub.update_scalar('train/distill_warmup', factor)
