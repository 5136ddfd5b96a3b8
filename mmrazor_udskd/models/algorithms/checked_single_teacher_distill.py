"""MMRazor's ``SingleTeacherDistill`` that refuses a forgotten teacher.

MMRazor builds the teacher and loads ``teacher_ckpt`` only when one is
given; without it, logit KD trains the student against a randomly
initialised teacher and nothing says so. This subclass stops before
anything is built unless the teacher gets trained weights (a checkpoint or
a pretrained ``init_cfg``), with ``teacher_ckpt='random'`` as the explicit
opt-in for tests and smoke runs. Everything else is MMRazor's class.
"""
from typing import Optional, Union

from mmrazor.models import SingleTeacherDistill
from mmrazor.registry import MODELS
from torch import nn

from ..utils import teacher_checkpoint

__all__ = ['CheckedSingleTeacherDistill']


@MODELS.register_module()
class CheckedSingleTeacherDistill(SingleTeacherDistill):
    """``SingleTeacherDistill`` whose teacher must have trained weights.

    Args:
        teacher (dict | nn.Module): The teacher's config or model.
        teacher_ckpt (str, optional): Its checkpoint; required unless the
            teacher config loads pretrained weights itself. ``'random'``
            keeps a random teacher on purpose. Defaults to None (an error
            naming ``model.teacher_ckpt`` for a config without pretrained
            weights).
        *args: ``SingleTeacherDistill``'s positional arguments
            (``distiller``).
        **kwargs: ``SingleTeacherDistill``'s other keyword arguments.
    """

    def __init__(self, *args, teacher: Union[dict, nn.Module],
                 teacher_ckpt: Optional[str] = None, **kwargs) -> None:
        super().__init__(
            *args, teacher=teacher,
            teacher_ckpt=teacher_checkpoint(teacher, teacher_ckpt),
            **kwargs)
