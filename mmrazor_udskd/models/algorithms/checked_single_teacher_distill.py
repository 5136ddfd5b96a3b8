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
from typing import Any, Dict, List, Optional, Union

import torch
from mmengine.structures import BaseDataElement
from mmrazor.models import SingleTeacherDistill
from mmrazor.registry import MODELS
from torch import nn

from ..utils import teacher_checkpoint
from ...utils.finite_checks import check_finite_losses
from ..utils.runner_state import runner_position

__all__ = ['CheckedSingleTeacherDistill']


def _loss_terms(losses: Dict[str, Any]) -> Dict[str, torch.Tensor]:
    """The values mmengine's ``parse_losses`` sums, each as a scalar: keys
    containing ``loss``, a tensor (its mean) or a list of tensors (the sum
    of their means)."""
    terms = {}
    for key, value in losses.items():
        if 'loss' not in key:
            continue
        if isinstance(value, torch.Tensor):
            terms[key] = value.detach().float().mean()
        elif isinstance(value, (list, tuple)) and value:
            terms[key] = sum(v.detach().float().mean() for v in value)
    return terms


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

    def loss(self, batch_inputs: torch.Tensor,
             data_samples: Optional[List[BaseDataElement]] = None
             ) -> Dict[str, torch.Tensor]:
        """MMRazor's losses, checked to be finite when ``check_finite``.

        Args:
            batch_inputs (torch.Tensor): The batch of images.
            data_samples (list[BaseDataElement], optional): Their labels.
                Defaults to None.

        Returns:
            dict[str, Tensor]: ``student.loss``, ``distill.loss_*``, ...
                unchanged.

        Raises:
            FloatingPointError: If a loss term (a key containing ``loss``,
                the ones mmengine sums) is NaN or inf.
        """
        losses = super().loss(batch_inputs, data_samples)
        if self.check_finite:
            check_finite_losses(_loss_terms(losses), **runner_position())
        return losses
