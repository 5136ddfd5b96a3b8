"""Config helpers used by ``tools/train.py`` and ``tools/test.py``."""
import os.path as osp
from typing import Optional

from mmengine.config import Config, ConfigDict

__all__ = ['enable_amp', 'apply_data_root', 'teacher_from_checkpoint']


def _to_amp(wrapper_cfg: ConfigDict) -> None:
    wrapper_cfg['type'] = 'AmpOptimWrapper'
    wrapper_cfg.setdefault('loss_scale', 'dynamic')


def enable_amp(cfg: Config) -> Config:
    """Switch every optimizer wrapper of ``cfg`` to ``AmpOptimWrapper``.

    Handles a single ``optim_wrapper``, the default of
    ``StudentOptimWrapperConstructor`` with any per-student override that
    sets its own ``type``, and the per-student dictionaries that
    ``SeparateOptimWrapperConstructor`` builds (one entry per child module).

    Args:
        cfg (Config): The training config, changed in place.

    Returns:
        Config: The same config.
    """
    wrapper = cfg.optim_wrapper
    if 'optimizer' in wrapper:
        _to_amp(wrapper)
        # per-student overrides of StudentOptimWrapperConstructor that
        # name their own wrapper type
        for key, value in wrapper.items():
            if key not in ('optimizer', 'paramwise_cfg', 'clip_grad') and \
                    isinstance(value, dict) and 'type' in value:
                _to_amp(value)
    else:
        for key, value in wrapper.items():
            if isinstance(value, dict) and 'optimizer' in value:
                _to_amp(value)
    return cfg


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
