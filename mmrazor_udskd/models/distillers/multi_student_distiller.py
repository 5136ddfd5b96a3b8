"""The loss of every student of UDSKD: who learns what from which logits.

Gore, Dey, Mishra, arXiv 2511.18826: for student ``i`` with logits ``z_i``,
teacher logits ``z_t``, the other students' detached logits
``peer_targets`` and label ``y``,
``L_i = alpha * CE(z_i, y) + beta * teacher_loss(z_i, z_t)
+ gamma * peer_loss(z_i, peer_targets)``.
"""
import inspect
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmrazor.registry import MODELS
from torch import nn

from ...utils.validation import (check_loss_weight, check_positive,
                                 check_trainable)

__all__ = ['MultiStudentDistiller']

#: the per-student loss weights that ``student_loss_weights`` may override
WEIGHT_NAMES = ('alpha', 'beta', 'gamma')
#: the weights of the paper's experiments
DEFAULT_WEIGHTS = dict(alpha=0.4, beta=0.4, gamma=0.2)
#: the statistics of the teacher loss that are logged as ``stats.<name>``
STAT_NAMES = ('weight_mean', 'entropy_t1', 'entropy_tau', 'uncertain_ratio')


@MODELS.register_module()
class MultiStudentDistiller(nn.Module):
    """Composes each student's loss from the teacher and peer terms.

    It owns the weights ``alpha``/``beta``/``gamma`` (per student, in
    :attr:`loss_weights`, a plain dict a hook may rewrite between
    iterations), the temperature, the teacher and peer loss modules and the
    statistics that are logged. It runs no model: the algorithm hands it
    the logits of one batch.

    Args:
        student_names (Sequence[str]): The students, in config order.
        loss_weights (Dict[str, float], optional): ``alpha`` (weight of the
            hard-label cross-entropy; the student head's own
            ``loss_weight`` is not applied), ``beta`` (of ``teacher_loss``)
            and ``gamma`` (of ``peer_loss``). Defaults to None
            (``alpha=0.4, beta=0.4, gamma=0.2``; missing keys too).
        student_loss_weights (Dict[str, dict], optional): Per-student
            overrides of ``alpha``/``beta``/``gamma``, e.g.
            ``dict(mbv2=dict(gamma=0.1))``. Defaults to None.
        field (str): Config path of these arguments, for error messages.
            Defaults to ``'model'``.
        tau (float): Temperature given to ``teacher_loss`` and ``peer_loss``
            when their configs take a ``tau`` and set none. Defaults to 4.0.
        teacher_loss (dict, optional): Config of the teacher term, called as
            ``loss(preds_S, preds_T)``. Of its ``stats()`` (if any), the
            four names in ``STAT_NAMES`` are logged as ``stats.<name>``.
            Defaults to None (``EntropyWeightedKDLoss``, entropy weights).
        peer_loss (dict, optional): Config of the peer term, called as
            ``loss(preds_S, peer_targets)``. Defaults to None
            (``PeerKLLoss``).
    """

    def __init__(self,
                 student_names: Sequence[str],
                 loss_weights: Optional[Dict[str, float]] = None,
                 student_loss_weights: Optional[Dict[str, dict]] = None,
                 field: str = 'model',
                 tau: float = 4.0,
                 teacher_loss: Optional[dict] = None,
                 peer_loss: Optional[dict] = None) -> None:
        super().__init__()
        self.student_names: List[str] = list(student_names)
        self.tau = check_positive(tau, f'{field}.tau')
        defaults = dict(DEFAULT_WEIGHTS, **(loss_weights or {}))
        defaults = {k: check_loss_weight(defaults[k], f'{field}.{k}')
                    for k in WEIGHT_NAMES}
        self.loss_weights = self._resolve_loss_weights(
            defaults, student_loss_weights, field)
        check_trainable(self.loss_weights, field)
        self.teacher_loss = self.build_loss(
            teacher_loss or dict(type='EntropyWeightedKDLoss',
                                 weighting='entropy'), self.tau,
            f'{field}.teacher_loss')
        self.peer_loss = self.build_loss(
            peer_loss or dict(type='PeerKLLoss'), self.tau,
            f'{field}.peer_loss')

    @staticmethod
    def build_loss(cfg: dict, tau: float, field: str) -> nn.Module:
        """Build a distillation loss, giving it ``tau`` if it takes one.

        Args:
            cfg (dict): Loss config (MMRazor ``MODELS``).
            tau (float): The algorithm's temperature.
            field (str): The config path of ``cfg``, for error messages.

        Returns:
            nn.Module: The loss module.

        Raises:
            ValueError: If the type is unknown or the loss rejects its
                arguments (e.g. an unknown ``weighting``), naming ``field``.
        """
        cfg = dict(cfg)
        loss_cls = MODELS.get(cfg['type']) if isinstance(cfg['type'],
                                                         str) else cfg['type']
        if loss_cls is None:
            raise ValueError(f'`{field}.type`={cfg["type"]!r} is not a '
                             'registered loss')
        if 'tau' not in cfg:
            if 'tau' in inspect.signature(loss_cls.__init__).parameters:
                cfg['tau'] = tau
        elif cfg['tau'] != tau:
            print_log(f'`{field}.tau`={cfg["tau"]} differs from '
                      f'`model.tau`={tau}; the loss uses its own', 'current',
                      level=30)
        try:
            return MODELS.build(cfg)
        except (ValueError, TypeError) as err:
            raise type(err)(f'`{field}`: {err}') from err

    def _resolve_loss_weights(self, defaults: Dict[str, float],
                              overrides: Optional[Dict[str, dict]],
                              field: str) -> Dict[str, Dict[str, float]]:
        """Per-student ``alpha``/``beta``/``gamma``.

        Args:
            defaults (Dict[str, float]): The algorithm-wide weights.
            overrides (Dict[str, dict], optional): ``student_loss_weights``.
            field (str): The algorithm's config path.

        Returns:
            Dict[str, Dict[str, float]]: Weights per student name.
        """
        overrides = dict(overrides or {})
        unknown = set(overrides) - set(self.student_names)
        if unknown:
            raise ValueError(f'`student_loss_weights` names unknown students '
                             f'{sorted(unknown)}; students are '
                             f'{self.student_names}')
        weights = {}
        for name in self.student_names:
            own = dict(overrides.get(name, {}))
            bad = set(own) - set(WEIGHT_NAMES)
            if bad:
                raise ValueError(f'`student_loss_weights.{name}` may only set '
                                 f'{WEIGHT_NAMES}, got {sorted(bad)}')
            weights[name] = {
                k: check_loss_weight(
                    own[k], f'{field}.student_loss_weights.{name}.{k}')
                if k in own else defaults[k]
                for k in WEIGHT_NAMES
            }
        return weights

    def peer_targets(self, name: str,
                     logits: Dict[str, torch.Tensor]) -> List[torch.Tensor]:
        """The other students' logits of this batch, detached.

        Args:
            name (str): The student being trained.
            logits (Dict[str, Tensor]): Every student's logits.

        Returns:
            List[Tensor]: The peers' detached logits.
        """
        return [logits[peer].detach() for peer in self.student_names
                if peer != name]

    def student_losses(
        self, name: str, logits: Dict[str, torch.Tensor],
        teacher_logits: torch.Tensor, targets: torch.Tensor
    ) -> Tuple[Dict[str, torch.Tensor], Dict[str, torch.Tensor]]:
        """The weighted terms of ``L_i`` for one student.

        Args:
            name (str): Student name.
            logits (Dict[str, Tensor]): Every student's logits (this batch).
            teacher_logits (Tensor): Teacher logits (no grad).
            targets (Tensor): Labels (B,) or soft scores (B, C).

        Returns:
            Tuple[Dict[str, Tensor], Dict[str, Tensor]]: The weighted terms
            ``loss_ce``, ``loss_teacher``, ``loss_peer`` (summing to
            ``L_i``) and the teacher loss's statistics named in
            ``STAT_NAMES`` (empty if it has none, or if ``beta`` is 0).
        """
        weights = self.loss_weights[name]
        preds = logits[name].float()
        zero = preds.new_zeros(())
        terms: Dict[str, torch.Tensor] = {}
        terms['loss_ce'] = weights['alpha'] * F.cross_entropy(
            preds, targets) if weights['alpha'] else zero
        stats: Dict[str, torch.Tensor] = {}
        if weights['beta']:
            terms['loss_teacher'] = weights['beta'] * self.teacher_loss(
                preds, teacher_logits.float())
            if hasattr(self.teacher_loss, 'stats'):
                stats = {k: v.detach()
                         for k, v in self.teacher_loss.stats().items()
                         if k in STAT_NAMES}
        else:
            terms['loss_teacher'] = zero
        if weights['gamma']:
            peers = [p.float() for p in self.peer_targets(name, logits)]
            terms['loss_peer'] = weights['gamma'] * self.peer_loss(
                preds, peers)
        else:
            terms['loss_peer'] = zero
        return terms, stats
