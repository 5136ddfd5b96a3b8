"""Config helpers used by ``tools/train.py`` and ``tools/test.py``."""
import os.path as osp
from typing import Dict, List, Optional, Sequence

from mmengine.config import Config, ConfigDict

from ..engine.optimizers.student_optim_wrapper_constructor import \
    WRAPPER_KEYS
from ..models.utils.precision import (check_precision, default_precision,
                                      model_family)

__all__ = [
    'enable_amp', 'set_teacher_precision', 'apply_precision_policy',
    'apply_data_root', 'teacher_from_checkpoint'
]

#: keys of an optimizer wrapper config that are not per-student overrides
_WRAPPER_FIELDS = WRAPPER_KEYS | {'constructor'}


def _to_amp(wrapper_cfg: ConfigDict, dtype: Optional[str]) -> None:
    wrapper_cfg['type'] = 'AmpOptimWrapper'
    wrapper_cfg.setdefault('loss_scale', 'dynamic')
    if dtype is not None:
        wrapper_cfg['dtype'] = dtype


def _per_model_wrappers(cfg: Config) -> Dict[str, ConfigDict]:
    """The per-model entries of a ``SeparateOptimWrapperConstructor``
    config (empty for a single ``optim_wrapper``)."""
    wrapper = cfg.optim_wrapper
    if 'optimizer' in wrapper:
        return {}
    return {key: value for key, value in wrapper.items()
            if isinstance(value, dict) and 'optimizer' in value}


def enable_amp(cfg: Config, students: Optional[Sequence[str]] = None,
               dtype: Optional[str] = None) -> Config:
    """Switch optimizer wrappers of ``cfg`` to ``AmpOptimWrapper``.

    Handles a single ``optim_wrapper``, the default of
    ``StudentOptimWrapperConstructor`` with any per-student override that
    sets its own ``type``, and the per-student dictionaries that
    ``SeparateOptimWrapperConstructor`` builds (one entry per child module).
    On a GPU AMP autocasts to ``dtype`` (default float16, with dynamic loss
    scaling); on a CPU to bfloat16 without loss scaling.

    Args:
        cfg (Config): The training config, changed in place.
        students (Sequence[str], optional): Only these students' wrappers
            (needs one wrapper per student). Defaults to None (all).
        dtype (str, optional): Autocast dtype, e.g. ``'bfloat16'``.
            Defaults to None (the wrapper's default).

    Returns:
        Config: The same config.

    Raises:
        KeyError: A name in ``students`` has no optimizer wrapper.
        ValueError: ``students`` is given but the config has one wrapper
            for the whole model.
    """
    wrapper = cfg.optim_wrapper
    per_model = _per_model_wrappers(cfg)
    if 'optimizer' in wrapper:
        # one default wrapper: the whole model's, or the default of
        # StudentOptimWrapperConstructor with per-student overrides
        overrides = {k: v for k, v in wrapper.items()
                     if k not in _WRAPPER_FIELDS and isinstance(v, dict)}
        if students is None:
            # the default, and overrides that name their own wrapper type
            entries = [wrapper] + [v for v in overrides.values()
                                   if 'type' in v]
        elif 'StudentOptimWrapperConstructor' in str(
                wrapper.get('constructor', '')):
            names = list((cfg.model.get('students') or {}).keys())
            missing = sorted(set(students) - set(names))
            if missing:
                raise KeyError(f'no student {missing}; the model has '
                               f'{names}')
            entries = []
            for name in students:
                # an override merged into the default by the constructor
                wrapper.setdefault(name, ConfigDict())
                entries.append(wrapper[name])
        else:
            raise ValueError('AMP for some students needs one optimizer '
                             'wrapper per student (StudentOptimWrapper'
                             'Constructor or SeparateOptimWrapperConstructor)'
                             '; this config has one for the whole model')
    elif students is None:
        entries = list(per_model.values())
    else:
        missing = sorted(set(students) - set(per_model))
        if missing:
            raise KeyError(f'no optimizer wrapper for {missing}; the '
                           f'config has {sorted(per_model)}')
        entries = [per_model[name] for name in students]
    for entry in entries:
        _to_amp(entry, dtype)
    return cfg


def set_teacher_precision(cfg: Config, precision: str) -> Config:
    """Set ``model.teacher_precision`` of a ``MultiStudentDistill`` config.

    Args:
        cfg (Config): The config, changed in place.
        precision (str): ``'fp32'``, ``'bf16'``, ``'fp16'`` or ``'auto'``.

    Returns:
        Config: The same config.

    Raises:
        ValueError: The model is not a ``MultiStudentDistill`` or the
            precision is unknown.
    """
    check_precision(precision, '--teacher-precision')
    if 'MultiStudentDistill' not in str(cfg.model.get('type', '')):
        raise ValueError('a teacher precision needs a MultiStudentDistill '
                         f"model, got {cfg.model.get('type')!r}")
    cfg.model.teacher_precision = precision
    return cfg


def apply_precision_policy(cfg: Config, device_type: str) -> Dict[str, str]:
    """Apply the default per-model precision policy of
    :mod:`mmrazor_udskd.models.utils.precision` to ``cfg``.

    The teacher of a ``MultiStudentDistill`` gets the policy's precision as
    ``model.teacher_precision``; every student (or DKEL branch, or the
    single model) whose policy is bf16 gets a bfloat16
    ``AmpOptimWrapper``; the others keep theirs.

    Args:
        cfg (Config): The config, changed in place.
        device_type (str): ``'cpu'`` or ``'cuda'``.

    Returns:
        Dict[str, str]: The precision chosen per model name (``teacher``,
        the student names, or ``model`` for a single model).
    """
    model = cfg.model
    chosen: Dict[str, str] = {}
    if 'MultiStudentDistill' in str(model.get('type', '')):
        chosen['teacher'] = default_precision('teacher', device_type)
        model.teacher_precision = chosen['teacher']
    named = model.get('students') or model.get('branches')
    if named:
        for name, sub in named.items():
            chosen[name] = default_precision('student', device_type,
                                             model_family(sub))
        amp: List[str] = [n for n in named if chosen[n] == 'bf16']
        if amp:
            enable_amp(cfg, amp, dtype='bfloat16')
    else:
        single = model.get('architecture', model)
        chosen['model'] = default_precision('student', device_type,
                                            model_family(single))
        if chosen['model'] == 'bf16':
            enable_amp(cfg, dtype='bfloat16')
    return chosen


def apply_data_root(cfg: Config, data_root: str) -> Config:
    """Point every dataloader's dataset at ``data_root``.

    ``--cfg-options data_root=/x`` alone would not reach the dataloaders,
    whose ``data_root`` was copied from the top-level variable when the config
    was parsed; ``tools/train.py`` calls this when that option is given.

    Args:
        cfg (Config): The config, changed in place.
        data_root (str): The new data root.

    Returns:
        Config: The same config.
    """
    cfg.data_root = data_root
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key, None)
        if not loader:
            continue
        dataset = loader['dataset']
        # wrappers such as RepeatDataset / ClassBalancedDataset nest it
        while 'dataset' in dataset and 'data_root' not in dataset:
            dataset = dataset['dataset']
        dataset['data_root'] = data_root
    return cfg


def teacher_from_checkpoint(cfg: Config, checkpoint: Optional[str]) -> bool:
    """Let a run whose whole state comes from ``checkpoint`` (``--resume``,
    ``tools/test.py``) build its teacher without ``model.teacher_ckpt``.

    The distillation algorithms refuse a teacher without trained weights;
    when the runner then loads a checkpoint of the whole algorithm, the
    teacher's weights come from it, so the teacher is built with
    ``teacher_ckpt='random'`` (overwritten by the checkpoint's weights).

    Args:
        cfg (Config): The config, changed in place.
        checkpoint (str, optional): The checkpoint the runner loads; None
            (or a missing local file) changes nothing.

    Returns:
        bool: Whether ``model.teacher_ckpt`` was set.
    """
    model = cfg.get('model') or {}
    if not checkpoint or model.get('teacher') is None or \
            model.get('teacher_ckpt'):
        return False
    if '://' not in checkpoint and not osp.isfile(checkpoint):
        return False
    model['teacher_ckpt'] = 'random'
    return True
