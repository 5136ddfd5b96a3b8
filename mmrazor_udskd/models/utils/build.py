"""Build the models an algorithm holds from their configs, and make sure a
distillation teacher gets trained weights."""
from typing import Any, Optional, Union

from mmrazor.registry import MODELS
from torch import nn

__all__ = ['build_model', 'RANDOM_TEACHER', 'has_pretrained_weights',
           'teacher_checkpoint']

#: ``teacher_ckpt`` value that runs with a randomly initialised teacher on
#: purpose (tests, smoke runs, speed measurements)
RANDOM_TEACHER = 'random'


def build_model(cfg: Union[dict, nn.Module], what: str) -> nn.Module:
    """Build a model from a config (MMRazor's ``MODELS``, which falls back
    to MMPretrain's), or pass a built one through.

    Args:
        cfg (dict | nn.Module): Model config or model.
        what (str): Its config field, for the error message.

    Returns:
        nn.Module: The model.

    Raises:
        TypeError: If ``cfg`` is neither a dict nor a module.
    """
    if isinstance(cfg, dict):
        cfg = MODELS.build(cfg)
    if not isinstance(cfg, nn.Module):
        raise TypeError(f'`{what}` must be a config dict or an nn.Module, '
                        f'got {type(cfg).__name__}')
    return cfg


def has_pretrained_weights(cfg: Any) -> bool:
    """Whether a model config loads trained weights by itself: an
    ``init_cfg`` of type ``'Pretrained'`` with a checkpoint anywhere in it
    (model, backbone, head...), or a true ``pretrained`` (MMRazor's
    ``cfg_path=..., pretrained=True`` form, or a checkpoint path).

    Args:
        cfg (Any): A model config (nested dicts and lists).

    Returns:
        bool: True if building and initialising it loads weights.
    """
    if isinstance(cfg, (list, tuple)):
        return any(has_pretrained_weights(item) for item in cfg)
    if not isinstance(cfg, dict):
        return False
    if cfg.get('pretrained'):
        return True
    init = cfg.get('init_cfg')
    for item in init if isinstance(init, (list, tuple)) else [init]:
        if isinstance(item, dict) and item.get('type') == 'Pretrained' and \
                item.get('checkpoint'):
            return True
    return any(has_pretrained_weights(v) for k, v in cfg.items()
               if k != 'init_cfg')


def teacher_checkpoint(teacher: Union[dict, nn.Module],
                       teacher_ckpt: Optional[str],
                       field: str = 'model.teacher_ckpt') -> Optional[str]:
    """The checkpoint to load into a distillation teacher, or stop.

    A distillation run whose teacher keeps its random initial weights
    trains its students against noise without a word (an entropy-weighted
    teacher term then switches itself off). So a teacher config needs a
    checkpoint (``teacher_ckpt``) or pretrained weights of its own
    (``init_cfg=dict(type='Pretrained', ...)``, ``pretrained=True``);
    ``teacher_ckpt='random'`` runs with a random teacher on purpose. A
    built ``nn.Module`` is used with the weights it has.

    Args:
        teacher (dict | nn.Module): The teacher's config or model.
        teacher_ckpt (str, optional): The configured checkpoint.
        field (str): Its config path, for the message. Defaults to
            ``'model.teacher_ckpt'``.

    Returns:
        str | None: The checkpoint to load (None: load nothing).

    Raises:
        ValueError: If a teacher config has neither, naming ``field``.
    """
    if teacher_ckpt == RANDOM_TEACHER:
        return None
    if teacher_ckpt or isinstance(teacher, nn.Module) or \
            has_pretrained_weights(teacher):
        return teacher_ckpt or None
    raise ValueError(
        f'`{field}` is not set and the teacher config loads no pretrained '
        'weights (no init_cfg=dict(type=\'Pretrained\', ...)), so the '
        'students would learn from a randomly initialised teacher. Pass '
        f'the trained teacher, e.g. --cfg-options {field}='
        'work_dirs/<teacher run>/epoch_50.pth, or set '
        f"{field}='random' to use a random teacher on purpose (tests, "
        'smoke runs).')
