"""Schedule UDSKD's loss weights alpha, beta, gamma over the epochs or
iterations (the future work of arXiv 2511.18826)."""
import inspect
from typing import Any, Dict, Optional

from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import IterBasedTrainLoop

from ...models.losses.schedules import WEIGHT_SCHEDULES
from ...models.utils import unwrap_model
from ...utils.validation import check_loss_weight

__all__ = ['LossWeightScheduleHook']

#: the weights a schedule may drive (attributes of MultiStudentDistiller)
SCHEDULED = ('alpha', 'beta', 'gamma')
#: the config fields of each schedule type that hold weights
_WEIGHT_FIELDS = ('value', 'start', 'end')
FIELD = 'custom_hooks.LossWeightScheduleHook'


def _check_schedule(name: str, cfg: Any) -> Dict[str, Any]:
    """Validate one schedule config; returns it with ``by_epoch`` split off
    and the function's arguments checked (each weight finite, >= 0)."""
    field = f'{FIELD}.{name}'
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise ValueError(f'`{field}` must be a dict with a `type` (one of '
                         f'{tuple(WEIGHT_SCHEDULES)}), got {cfg!r}')
    cfg = dict(cfg)
    kind = cfg.pop('type')
    by_epoch = cfg.pop('by_epoch', True)
    if kind not in WEIGHT_SCHEDULES:
        raise ValueError(f'`{field}.type` must be one of '
                         f'{tuple(WEIGHT_SCHEDULES)}, got {kind!r}')
    if not isinstance(by_epoch, bool):
        raise ValueError(f'`{field}.by_epoch` must be a bool, got '
                         f'{by_epoch!r}')
    func = WEIGHT_SCHEDULES[kind]
    try:
        inspect.signature(func).bind(0, **cfg)
    except TypeError as err:
        raise ValueError(f'`{field}` ({kind!r}): {err}') from err
    for key in _WEIGHT_FIELDS:
        if key in cfg:
            check_loss_weight(cfg[key], f'{field}.{key}')
    for i, value in enumerate(cfg.get('values', ())):
        check_loss_weight(value, f'{field}.values[{i}]')
    try:  # ramps and steps check their own positions
        func(0, **cfg)
    except ValueError as err:
        raise ValueError(f'`{field}`: {err}') from err
    return dict(func=func, by_epoch=by_epoch, kwargs=cfg)


@HOOKS.register_module()
class LossWeightScheduleHook(Hook):
    """Set UDSKD's ``alpha``/``beta``/``gamma`` from schedules before every
    training iteration.

    Each weight is a pure function of the epoch (``by_epoch=True``, the
    0-based ``runner.epoch``, constant within an epoch) or of the iteration
    (``by_epoch=False``, the 0-based global ``runner.iter``), from
    :mod:`mmrazor_udskd.models.losses.schedules`:

    * ``dict(type='constant', value=v)``
    * ``dict(type='linear', start=s, end=e, begin_at=t0, end_at=t1)``
    * ``dict(type='cosine', start=s, end=e, begin_at=t0, end_at=t1)``
      (half-cosine ramp)
    * ``dict(type='step', milestones=[t1, t2], values=[v0, v1, v2])``

    e.g. ``custom_hooks = [dict(type='LossWeightScheduleHook',
    gamma=dict(type='linear', start=0.0, end=0.2, end_at=10))]`` ramps the
    peer weight up over the first 10 epochs. Weights without a schedule keep
    their configured values. A scheduled weight is the same for every
    student (it replaces any ``student_loss_weights`` override of it).

    The values depend only on the runner's position, which ``--resume``
    restores, so a resumed run uses the same weights as an uninterrupted
    one. They are logged every iteration as ``loss_weight.<name>`` (so they
    appear in ``scalars.json``, averaged over the log processor's window
    like every scalar; ``log_processor.custom_cfg=[dict(
    data_src='loss_weight.gamma', method_name='current')]`` logs the value
    of the iteration instead).

    The hook finds the algorithm's ``distiller`` (a
    ``MultiStudentDistiller``; a DDP wrapper is unwrapped) and sets, for
    every student, its ``loss_weights[<student>][<name>]``, and the
    distiller's float attribute ``<name>``.

    Args:
        alpha (dict, optional): Schedule of the CE weight. Defaults to None.
        beta (dict, optional): Schedule of the teacher-term weight.
            Defaults to None.
        gamma (dict, optional): Schedule of the peer-term weight. Defaults
            to None.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self,
                 alpha: Optional[dict] = None,
                 beta: Optional[dict] = None,
                 gamma: Optional[dict] = None) -> None:
        given = dict(alpha=alpha, beta=beta, gamma=gamma)
        self.schedules = {name: _check_schedule(name, cfg)
                          for name, cfg in given.items() if cfg is not None}
        if not self.schedules:
            raise ValueError(f'`{FIELD}` needs a schedule for at least one '
                             f'of {SCHEDULED}')
        self._distiller = None

    def values_at(self, epoch: int, iteration: int) -> Dict[str, float]:
        """The scheduled weights at a position of the run.

        Args:
            epoch (int): 0-based epoch.
            iteration (int): 0-based global iteration.

        Returns:
            Dict[str, float]: Weight name to value.
        """
        return {name: s['func'](epoch if s['by_epoch'] else iteration,
                                **s['kwargs'])
                for name, s in self.schedules.items()}

    def before_train(self, runner) -> None:
        """Find the distiller and check that epochs exist if used.

        Args:
            runner (Runner): The runner.
        """
        from ...models.distillers import MultiStudentDistiller
        model = unwrap_model(runner.model)
        distiller = getattr(model, 'distiller', None)
        if not isinstance(distiller, MultiStudentDistiller):
            raise TypeError(f'`{FIELD}` schedules the weights of a '
                            'MultiStudentDistiller (model.distiller of '
                            'MultiStudentDistill); '
                            f'{type(model).__name__} has none')
        if isinstance(runner.train_loop, IterBasedTrainLoop):
            by_epoch = [n for n, s in self.schedules.items() if s['by_epoch']]
            if by_epoch:
                raise ValueError(f'`{FIELD}`: {by_epoch} are scheduled '
                                 'by_epoch but training is iteration-based; '
                                 'set by_epoch=False')
        self._distiller = distiller

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch: Any = None) -> None:
        """Apply and log the weights of this iteration.

        Args:
            runner (Runner): The runner.
            batch_idx (int): Index of the batch in the epoch.
            data_batch (Any): The batch. Defaults to None.
        """
        if self._distiller is None:
            self.before_train(runner)
        distiller = self._distiller
        values = self.values_at(runner.epoch, runner.iter)
        for name, value in values.items():
            setattr(distiller, name, value)
            for weights in distiller.loss_weights.values():
                weights[name] = value
            runner.message_hub.update_scalar(f'train/loss_weight.{name}',
                                             value)
        for student, weights in distiller.loss_weights.items():
            if not any(weights[k] for k in SCHEDULED):
                raise ValueError(
                    f'`{FIELD}`: alpha, beta and gamma of student '
                    f'{student!r} are all 0 at epoch {runner.epoch + 1}, '
                    f'iteration {runner.iter + 1}; it would learn nothing')
