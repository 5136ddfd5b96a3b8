"""Build the models an algorithm holds from their configs, and make sure a
distillation teacher gets trained weights."""
from typing import Any, Dict, Optional, Tuple, Union

from mmrazor.registry import MODELS
from torch import nn

from ...utils.validation import check_num_classes_agree, head_num_classes
from ...utils.weights_only import load_state_dict_exactly

__all__ = ['build_model', 'RANDOM_TEACHER', 'has_pretrained_weights',
           'teacher_checkpoint', 'build_students_and_teacher']

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


def build_students_and_teacher(
    students: Dict[str, Union[dict, nn.Module]],
    teacher: Optional[Union[dict, nn.Module]],
    teacher_ckpt: Optional[str],
) -> Tuple[Dict[str, nn.Module], Optional[nn.Module]]:
    """Build the students and the frozen teacher of a multi-student
    algorithm, in the order that makes the first error the useful one.

    The teacher requirement (:func:`teacher_checkpoint`) is checked before
    anything is built; the students are built, then the teacher; all heads
    must have one number of classes; then the checkpoint is loaded
    weights-only with exactly matching keys and shapes, and the teacher is
    frozen (``requires_grad=False``; its ``_is_init`` flag set so that the
    runner's ``init_weights()`` keeps the loaded weights).

    Args:
        students (Dict[str, dict | nn.Module]): Configs or models by name.
        teacher (dict | nn.Module, optional): The teacher; None for the
            no-teacher mode (Deep Mutual Learning).
        teacher_ckpt (str, optional): ``model.teacher_ckpt``.

    Returns:
        Tuple[Dict[str, nn.Module], nn.Module | None]: The students by name
        and the teacher (None without one).

    Raises:
        ValueError: A checkpoint without a teacher, a teacher without
            trained weights, or heads of different class counts, each naming
            its config field.
    """
    if teacher is None and teacher_ckpt:
        raise ValueError(
            f'`model.teacher_ckpt`={teacher_ckpt!r} is set but '
            '`model.teacher` is None (the no-teacher mode, DML); give a '
            'teacher or drop the checkpoint')
    if teacher is not None:
        teacher_ckpt = teacher_checkpoint(teacher, teacher_ckpt)
    built = {name: build_model(cfg, f'students.{name}')
             for name, cfg in students.items()}
    heads = {f'students.{n}': head_num_classes(s) for n, s in built.items()}
    if teacher is None:
        check_num_classes_agree(heads)
        return built, None
    frozen = build_model(teacher, 'teacher')
    check_num_classes_agree(dict(teacher=head_num_classes(frozen), **heads))
    if teacher_ckpt:
        load_state_dict_exactly(frozen, teacher_ckpt, 'model.teacher_ckpt',
                                what='the teacher')
        frozen._is_init = True
    frozen.requires_grad_(False)
    return built, frozen
