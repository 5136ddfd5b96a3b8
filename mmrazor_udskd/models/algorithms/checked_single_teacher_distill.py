"""MMRazor's ``SingleTeacherDistill`` with two checks it lacks.

1. A forgotten teacher. MMRazor builds the teacher and loads
   ``teacher_ckpt`` only when one is given; without it, logit KD trains the
   student against a randomly initialised teacher and nothing says so. This
   subclass stops before anything is built unless the teacher gets trained
   weights (a checkpoint or a pretrained ``init_cfg``), with
   ``teacher_ckpt='random'`` as the explicit opt-in for tests and smoke
   runs.
2. A diverged loss. A NaN/inf loss makes every later step NaN while the
   run goes on to its last epoch and exits 0. With ``check_finite`` (the
   default) the step raises, naming the loss terms, before the optimizer
   updates anything, as UDSKD's ``MultiStudentDistill`` does.

Everything else is MMRazor's class.
"""
from typing import Dict, Optional, Tuple, Union

import torch
from mmrazor.models import SingleTeacherDistill
from mmrazor.registry import MODELS
from torch import nn

from ..utils import teacher_checkpoint
from ...utils.finite_checks import check_finite_losses
from ..utils.runner_state import runner_position

__all__ = ['CheckedSingleTeacherDistill']


@MODELS.register_module()
class CheckedSingleTeacherDistill(SingleTeacherDistill):
    """``SingleTeacherDistill`` with a trained teacher and finite losses.

    Args:
        teacher (dict | nn.Module): The teacher's config or model.
        teacher_ckpt (str, optional): Its checkpoint; required unless the
            teacher config loads pretrained weights itself. ``'random'``
            keeps a random teacher on purpose. Defaults to None (an error
            naming ``model.teacher_ckpt`` for a config without pretrained
            weights).
        check_finite (bool): Raise ``FloatingPointError`` naming the
            non-finite loss terms (one host synchronisation per step).
            Defaults to True.
        *args: ``SingleTeacherDistill``'s positional arguments
            (``distiller``).
        **kwargs: ``SingleTeacherDistill``'s other keyword arguments.
    """

    def __init__(self, *args, teacher: Union[dict, nn.Module],
                 teacher_ckpt: Optional[str] = None,
                 check_finite: bool = True, **kwargs) -> None:
        super().__init__(
            *args, teacher=teacher,
            teacher_ckpt=teacher_checkpoint(teacher, teacher_ckpt),
            **kwargs)
        self.check_finite = bool(check_finite)

    def parse_losses(self, losses: Dict[str, torch.Tensor]
                     ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """mmengine's sum of the loss terms, checked to be finite first when
        ``check_finite`` (on the per-term means it already computed, before
        the optimizer update).

        Args:
            losses (dict[str, Tensor]): ``student.loss``, ``distill.loss_*``.

        Returns:
            Tuple[Tensor, dict[str, Tensor]]: mmengine's ``(loss, log_vars)``.

        Raises:
            FloatingPointError: If a loss term (a key containing ``loss``,
                the ones mmengine sums) is NaN or inf.
        """
        loss, log_vars = super().parse_losses(losses)
        if self.check_finite:
            check_finite_losses(
                {k: v for k, v in log_vars.items()
                 if k != 'loss' and 'loss' in k}, **runner_position())
        return loss, log_vars
