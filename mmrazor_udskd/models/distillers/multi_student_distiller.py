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
#: the statistics of the teacher loss that are logged as ``stats.<name>``:
#: ``weight_mean`` (mean confidence weight w), ``entropy_t1`` and
#: ``entropy_tau`` (mean teacher entropy at T = 1 and at tau),
#: ``uncertain_ratio`` (share of samples with w < 0.5)
STAT_NAMES = ('weight_mean', 'entropy_t1', 'entropy_tau', 'uncertain_ratio')
#: logged beside them: ``1 - weight_mean``, what the paper reports as the
#: "uncertain share" (the mean of 1 - w, not the share of samples with
#: w < 0.5, which is ``uncertain_ratio``)
UNCERTAIN_SHARE = 'one_minus_weight_mean'


def _is_plain_ce(module: nn.Module) -> bool:
    """Whether a head loss is mmpretrain's ``CrossEntropyLoss`` with its
    defaults (softmax, batch mean, no class weights): plain cross-entropy,
    for hard labels and for soft targets alike.

    Args:
        module (nn.Module): A head's loss module.

    Returns:
        bool: True if ``F.cross_entropy`` gives its value (before
        ``loss_weight``).
    """
    return (type(module).__name__ == 'CrossEntropyLoss'
            and type(module).__module__.startswith('mmpretrain')
            and not getattr(module, 'use_sigmoid', True)
            and not getattr(module, 'use_soft', True)
            and getattr(module, 'class_weight', 0) is None
            and getattr(module, 'reduction', '') == 'mean')


@MODELS.register_module()
class MultiStudentDistiller(nn.Module):
    """Composes each student's loss from the teacher and peer terms.

    It owns the weights ``alpha``/``beta``/``gamma`` (plain float
    attributes, read at every loss computation, so a hook may set them
    between iterations; per-student overrides in
    :attr:`student_loss_weights`), the temperature ``tau`` (an attribute
    too: setting it also sets the ``tau`` of every loss that follows it),
    the teacher and peer loss modules and the statistics that are logged.
    It runs no model: the algorithm hands it the logits of one batch.

    One source for the temperature: a loss whose config sets no ``tau``
    follows ``tau`` (the algorithm's ``model.tau``); a loss config that sets
    its own ``tau`` keeps it, on purpose, with a warning when it differs. A
    loss's own ``loss_weight`` (default 1) multiplies its ``beta``/``gamma``
    (a warning says so when it is not 1).

    Args:
        student_names (Sequence[str]): The students, in config order.
        loss_weights (Dict[str, float], optional): ``alpha`` (weight of the
            CE term: the student head's own loss, see :meth:`ce_loss`; the
            head's ``loss_weight`` is not applied), ``beta`` (of
            ``teacher_loss``)
            and ``gamma`` (of ``peer_loss``). Defaults to None
            (``alpha=0.4, beta=0.4, gamma=0.2``; missing keys too).
        student_loss_weights (Dict[str, dict], optional): Per-student
            overrides of ``alpha``/``beta``/``gamma``, e.g.
            ``dict(mbv2=dict(gamma=0.1))``. Defaults to None.
        field (str): Config path of these arguments, for error messages.
            Defaults to ``'model'``.
        tau (float): Temperature of ``teacher_loss`` and ``peer_loss`` when
            their configs take a ``tau`` and set none (they then follow
            later changes of :attr:`tau`). Defaults to 4.0.
        teacher_loss (dict, optional): Config of the teacher term, called as
            ``loss(preds_S, preds_T)``. Of its ``stats()`` (if any), the
            four names in ``STAT_NAMES`` are logged as ``stats.<name>``.
            Defaults to None (``EntropyWeightedKDLoss``, entropy weights).
        peer_loss (dict, optional): Config of the peer term, called as
            ``loss(preds_S, peer_targets)``. Defaults to None
            (``PeerKLLoss``).
        has_teacher (bool): False for the no-teacher mode (Deep Mutual
            Learning, Zhang et al., CVPR 2018): ``teacher_loss`` is not
            built, ``beta`` must be 0 and the terms have no
            ``loss_teacher``. Defaults to True.
    """

    def __init__(self,
                 student_names: Sequence[str],
                 loss_weights: Optional[Dict[str, float]] = None,
                 student_loss_weights: Optional[Dict[str, dict]] = None,
                 field: str = 'model',
                 tau: float = 4.0,
                 teacher_loss: Optional[dict] = None,
                 peer_loss: Optional[dict] = None,
                 has_teacher: bool = True) -> None:
        super().__init__()
        self.student_names: List[str] = list(student_names)
        #: per student, its head's loss module (a reference, not a child:
        #: it stays registered in the student only); see :meth:`ce_loss`
        self.ce_losses: Dict[str, nn.Module] = {}
        #: the losses (attribute names) whose ``tau`` follows :attr:`tau`
        self.tau_followers: List[str] = []
        self._tau = check_positive(tau, f'{field}.tau')
        defaults = dict(DEFAULT_WEIGHTS, **(loss_weights or {}))
        self.alpha = check_loss_weight(defaults['alpha'], f'{field}.alpha')
        self.beta = check_loss_weight(defaults['beta'], f'{field}.beta')
        self.gamma = check_loss_weight(defaults['gamma'], f'{field}.gamma')
        self.student_loss_weights = self._check_overrides(
            student_loss_weights, field)
        check_trainable(self.loss_weights, field)
        self.has_teacher = bool(has_teacher)
        if not self.has_teacher:
            self._check_no_teacher_weights(field)
        losses = dict(
            teacher_loss=teacher_loss or dict(type='EntropyWeightedKDLoss',
                                              weighting='entropy'),
            peer_loss=peer_loss or dict(type='PeerKLLoss'))
        self.teacher_loss: Optional[nn.Module] = None
        if not self.has_teacher:
            losses.pop('teacher_loss')
        for attr, cfg in losses.items():
            setattr(self, attr, self.build_loss(cfg, self.tau,
                                                f'{field}.{attr}'))
            if 'tau' not in cfg and hasattr(getattr(self, attr), 'tau'):
                self.tau_followers.append(attr)

    def set_ce_losses(self, heads: Dict[str, Optional[nn.Module]],
                      field: str = 'model') -> None:
        """Use each student head's own loss (``head.loss``) as its CE term.

        Args:
            heads (Dict[str, nn.Module | None]): Per student, its head
                (mmpretrain ``ClsHead`` with ``loss_module``); a student
                without one keeps plain cross-entropy.
            field (str): The algorithm's config path. Defaults to
                ``'model'``.

        Raises:
            ValueError: If a head's ``loss_weight`` is 0 (its CE would be 0
                while ``alpha`` says otherwise).
        """
        for name, head in heads.items():
            module = getattr(head, 'loss_module', None)
            if module is None:
                continue
            weight = getattr(module, 'loss_weight', 1.0)
            where = f'{field}.students.{name}.head.loss.loss_weight'
            if not weight:
                raise ValueError(
                    f'`{where}` is 0; the CE term is weighted by '
                    f'`{field}.alpha` (or `{field}.student_loss_weights.'
                    f'{name}.alpha`): set that to 0 instead')
            if weight != 1.0:
                print_log(f'`{where}`={weight} is not applied: '
                          f'`{field}.alpha` weighs the CE term', 'current',
                          level=30)
            self.ce_losses[name] = module

    def ce_loss(self, name: str, preds: torch.Tensor,
                targets: torch.Tensor) -> torch.Tensor:
        """The CE term of student ``name`` before ``alpha``: its head's own
        loss (e.g. ``CrossEntropyLoss``, ``LabelSmoothLoss``), called as
        mmpretrain's ``ClsHead`` calls it (batch-mean, hard labels or the
        soft ``gt_score`` targets of batch augmentation), divided by the
        head's ``loss_weight``; plain cross-entropy without a head loss.
        mmpretrain's ``CrossEntropyLoss`` with its defaults is computed as
        ``F.cross_entropy`` (its value, to the last bit).

        Args:
            name (str): Student name.
            preds (Tensor): Its logits (B, C), float32.
            targets (Tensor): Labels (B,) or soft scores (B, C).

        Returns:
            Tensor: The scalar loss.
        """
        module = self.ce_losses.get(name)
        if module is None or _is_plain_ce(module):
            # the same value, computed as before head losses were used
            return F.cross_entropy(preds, targets)
        loss = module(preds, targets, avg_factor=preds.size(0))
        weight = getattr(module, 'loss_weight', 1.0)
        return loss if weight == 1.0 else loss / weight

    def _check_no_teacher_weights(self, field: str) -> None:
        """Without a teacher, no student may weigh the teacher term.

        Args:
            field (str): The algorithm's config path.

        Raises:
            ValueError: Naming ``beta`` or the student's override of it.
        """
        hint = (f'but `{field}.teacher` is None (no teacher: Deep Mutual '
                'Learning); set it to 0')
        if self.beta:
            raise ValueError(f'`{field}.beta`={self.beta} weighs the teacher '
                             f'term, {hint}')
        for name, own in self.student_loss_weights.items():
            if own.get('beta'):
                raise ValueError(
                    f'`{field}.student_loss_weights.{name}.beta`='
                    f'{own["beta"]} weighs the teacher term, {hint}')

    @property
    def tau(self) -> float:
        """The algorithm's temperature (``model.tau``)."""
        return self._tau

    @tau.setter
    def tau(self, value: float) -> None:
        self._tau = check_positive(value, 'tau')
        for attr in self.tau_followers:
            getattr(self, attr).tau = self._tau

    @property
    def loss_weights(self) -> Dict[str, Dict[str, float]]:
        """Per student, the ``alpha``/``beta``/``gamma`` in force now (its
        overrides, else the algorithm's attributes)."""
        return {name: self.weights_of(name) for name in self.student_names}

    def weights_of(self, name: str) -> Dict[str, float]:
        """Student ``name``'s ``alpha``/``beta``/``gamma``, read now.

        Args:
            name (str): Student name.

        Returns:
            Dict[str, float]: Its override of each weight, else the
            algorithm's current value.
        """
        own = self.student_loss_weights.get(name, {})
        return {k: own.get(k, getattr(self, k)) for k in WEIGHT_NAMES}

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
                      f'`model.tau`={tau}; the loss uses its own (remove it '
                      'from the loss config to follow model.tau)', 'current',
                      level=30)
        if cfg.get('loss_weight', 1.0) != 1.0:
            print_log(f'`{field}.loss_weight`={cfg["loss_weight"]} multiplies '
                      'the algorithm\'s weight of this term (beta or gamma)',
                      'current', level=30)
        try:
            return MODELS.build(cfg)
        except (ValueError, TypeError) as err:
            raise type(err)(f'`{field}`: {err}') from err

    def _check_overrides(self, overrides: Optional[Dict[str, dict]],
                         field: str) -> Dict[str, Dict[str, float]]:
        """The checked per-student overrides of ``alpha``/``beta``/``gamma``.

        Args:
            overrides (Dict[str, dict], optional): ``student_loss_weights``.
            field (str): The algorithm's config path.

        Returns:
            Dict[str, Dict[str, float]]: Per student name, the weights it
            sets itself (the others follow the algorithm's attributes).
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
                    v, f'{field}.student_loss_weights.{name}.{k}')
                for k, v in own.items()
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
        teacher_logits: Optional[torch.Tensor], targets: torch.Tensor
    ) -> Tuple[Dict[str, torch.Tensor], Dict[str, torch.Tensor]]:
        """The weighted terms of ``L_i`` for one student.

        Args:
            name (str): Student name.
            logits (Dict[str, Tensor]): Every student's logits (this batch).
            teacher_logits (Tensor, optional): Teacher logits (no grad);
                None without a teacher.
            targets (Tensor): Labels (B,) or soft scores (B, C).

        Returns:
            Tuple[Dict[str, Tensor], Dict[str, Tensor]]: The weighted terms
            ``loss_ce``, ``loss_teacher`` (absent without a teacher),
            ``loss_peer`` (summing to ``L_i``) and the teacher loss's
            statistics named in ``STAT_NAMES`` plus
            ``one_minus_weight_mean`` (empty if it has none, if ``beta`` is
            0 or without a teacher).
        """
        weights = self.weights_of(name)
        preds = logits[name].float()
        zero = preds.new_zeros(())
        terms: Dict[str, torch.Tensor] = {}
        terms['loss_ce'] = weights['alpha'] * self.ce_loss(
            name, preds, targets) if weights['alpha'] else zero
        stats: Dict[str, torch.Tensor] = {}
        if teacher_logits is None or self.teacher_loss is None:
            pass  # no teacher (DML): no teacher term, no statistics
        elif weights['beta']:
            terms['loss_teacher'] = weights['beta'] * self.teacher_loss(
                preds, teacher_logits.float())
            if hasattr(self.teacher_loss, 'stats'):
                stats = {k: v.detach()
                         for k, v in self.teacher_loss.stats().items()
                         if k in STAT_NAMES}
                if 'weight_mean' in stats:
                    stats[UNCERTAIN_SHARE] = 1 - stats['weight_mean']
        else:
            terms['loss_teacher'] = zero
        if weights['gamma']:
            peers = [p.float() for p in self.peer_targets(name, logits)]
            terms['loss_peer'] = weights['gamma'] * self.peer_loss(
                preds, peers)
        else:
            terms['loss_peer'] = zero
        return terms, stats
