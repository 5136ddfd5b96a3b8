"""DKEL's algorithm: N branches trained from scratch with N decoupled EMA
teachers (Shao & Chen, arXiv 2312.11218); its terms are in
:mod:`..losses.dkel_functional`, its schedules in :mod:`..losses.schedules`."""
import copy
from collections import OrderedDict
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapperDict
from mmpretrain.structures import DataSample
from mmrazor.registry import MODELS

from ...utils.validation import check_predict_with, check_student_names
from ..distillers import DKELDistiller
from ..losses.schedules import ema_momentum
from ..utils import (build_model, current_epoch, ema_update_, gt_labels,
                     logits_to_predictions, logits_without_grad, sgd_step_,
                     unwrap_model)

__all__ = ['DecoupledOnlineDistill']

ForwardResults = Union[Dict[str, torch.Tensor], List[DataSample],
                       torch.Tensor]


@MODELS.register_module()
class DecoupledOnlineDistill(BaseModel):
    """DKEL: N student branches trained from scratch with N decoupled
    EMA teachers (Shao & Chen, *Decoupled Knowledge with Ensemble Learning
    for Online Distillation*, arXiv 2312.11218).

    Every branch :math:`S_i` (any MMPretrain classifier) has its own
    teacher :math:`T_i`, a separate network of the same architecture that is
    never trained by the branch's loss. Training runs in two phases:

    1. **Teacher initialisation** (the first ``teacher_init_iters`` training
       iterations, inside :meth:`train_step`): each teacher starts as a copy
       of its branch's initial weights and takes one plain SGD step per
       iteration on the cross-entropy alone, at the branch optimizer's
       current learning rate times ``teacher_init_lr_ratio`` (lr / 100),
       without momentum. After the phase the teachers are frozen
       (``requires_grad=False``, which they keep outside the CE step).
    2. **EMA phase** (every later iteration, after the branches' updates):
       :math:`\\theta^{T_i} \\leftarrow \\alpha_s \\theta^{T_i} +
       (1 - \\alpha_s) \\theta^{S_i}` with
       :math:`\\alpha_s = \\min(1 - 1/(s+1), \\alpha_{max})`, where ``s``
       counts the samples in the running mean: with ``ema_count_init`` the
       CE-initialised teacher is the first (``s = 1`` at the first update,
       which keeps half of it), else ``s = 0`` and the first update copies
       the branch (the authors' code). BatchNorm statistics stay the
       teacher's own (the EMA leaves them alone).

    Teachers run in the model's mode: in training they see the batch in
    train mode under ``no_grad`` (batch statistics; their running statistics
    follow their own activations, as in the authors' code), in validation in
    eval mode.

    The loss of every branch (CE, distillation from the online ensemble
    and from the other branches' teachers, with the decaying ensemble weight
    :math:`w_e` and the ramp-up :math:`r_e`) is composed by
    :class:`~mmrazor_udskd.models.distillers.DKELDistiller`.

    Differences from the authors' network: their branches share the lower
    layers of one ResNet and their ensemble is a learned linear layer on the
    concatenated features (trained with an extra CE); here branches are
    whole, independent classifiers and the online ensemble is the mean of
    their logits (also what ``predict_all`` reports as ``ensemble``). The
    heads' own ``loss`` configs are not used: CE is computed here.

    Each branch has its own optimizer: build the optimizer wrappers with
    ``mmrazor.SeparateOptimWrapperConstructor`` keyed by the branch names
    (branches are top-level children, teachers are the top-level children
    ``<name>_teacher``, which no optimizer sees). Branches, teachers and the
    phase counters (buffers ``ema_steps``, ``teacher_init_steps``) are in
    the state dict, so ``--resume`` restores them.

    Args:
        branches (Dict[str, Union[dict, nn.Module]]): At least two student
            classifiers (configs or modules), keyed by names that are valid
            Python identifiers (e.g. ``dict(b0=..., b1=...)``).
        tau (float): Distillation temperature, finite and > 0. Defaults to
            3.0.
        ce_weight, kd_weight, peer_weight (float): :math:`\\lambda_{ce}`,
            :math:`\\lambda_{kd}`, :math:`\\lambda_{peer}`. Defaults to 1.0.
        decay_k, decay_cutoff (float): :math:`w_e = e^{-k e}`, 0 below the
            cut-off. Defaults to 0.5, 0.01.
        rampup_epochs (float): Ramp-up length in epochs; 0: none. Defaults
            to 0. (These six: see ``DKELDistiller``.)
        teacher_init_iters (int): Number of CE-only teacher steps at the
            start of training; 0 skips the phase. Defaults to 2 (the
            authors' ``init: 1`` runs two steps).
        teacher_init_lr_ratio (float): Teacher learning rate during the
            initialisation, relative to its branch's current learning rate.
            Defaults to 0.01.
        teacher_init_weight_decay (float, optional): Weight decay of the
            initialisation steps; None takes the branch optimizer's.
            Defaults to None.
        ema_max_momentum (float): :math:`\\alpha_{max}`. Defaults to 0.999.
        ema_count_init (bool): Count the initialised teacher as the first
            sample of the EMA (only with ``teacher_init_iters > 0``); False
            reproduces the authors' code. Defaults to True.
        predict_with (str, optional): Branch used by
            ``forward(mode='predict'/'tensor')``; None takes the first.
            Defaults to None.
        data_preprocessor (dict or nn.Module, optional): The data
            preprocessor, e.g. ``mmpretrain.ClsDataPreprocessor``.
            Defaults to None.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 branches: Dict[str, Union[dict, nn.Module]],
                 tau: float = 3.0,
                 ce_weight: float = 1.0,
                 kd_weight: float = 1.0,
                 peer_weight: float = 1.0,
                 decay_k: float = 0.5,
                 decay_cutoff: float = 0.01,
                 rampup_epochs: float = 0,
                 teacher_init_iters: int = 2,
                 teacher_init_lr_ratio: float = 0.01,
                 teacher_init_weight_decay: Optional[float] = None,
                 ema_max_momentum: float = 0.999,
                 ema_count_init: bool = True,
                 predict_with: Optional[str] = None,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not isinstance(branches, dict) or len(branches) < 2:
            raise ValueError('DKEL needs a dict of at least two branches, '
                             f'got {type(branches).__name__} of '
                             f'{len(branches) if branches else 0}')
        check_student_names(list(branches), reserved=('ensemble', ),
                            field='model.branches')
        if teacher_init_iters < 0 or rampup_epochs < 0:
            raise ValueError('teacher_init_iters and rampup_epochs must be '
                             '>= 0')
        self.branch_names: List[str] = list(branches.keys())
        for name, cfg in branches.items():
            teacher_name = self.teacher_name(name)
            if hasattr(self, name) or hasattr(self, teacher_name):
                raise ValueError(f'branch name {name!r} in `model.branches` '
                                 'collides with an attribute; rename it')
            branch = build_model(cfg, f'branches.{name}')
            self.add_module(name, branch)
            teacher = copy.deepcopy(branch)
            teacher.requires_grad_(False)
            self.add_module(teacher_name, teacher)
        self.predict_with = check_predict_with(predict_with,
                                               self.branch_names)

        self.distiller = DKELDistiller(
            self.branch_names, tau,
            dict(ce=ce_weight, kd=kd_weight, peer=peer_weight), decay_k,
            decay_cutoff, rampup_epochs)
        self.teacher_init_iters = int(teacher_init_iters)
        self.teacher_init_lr_ratio = float(teacher_init_lr_ratio)
        self.teacher_init_weight_decay = teacher_init_weight_decay
        self.ema_max_momentum = float(ema_max_momentum)
        # the initialised teacher as sample 0 of the running mean
        self.ema_step_offset = int(bool(ema_count_init) and
                                   self.teacher_init_iters > 0)
        # phase counters, saved in checkpoints
        self.register_buffer('teacher_init_steps',
                             torch.zeros((), dtype=torch.long))
        self.register_buffer('ema_steps', torch.zeros((), dtype=torch.long))

    # ----------------------------------------------------------- helpers
    @staticmethod
    def teacher_name(branch_name: str) -> str:
        """``f'{branch_name}_teacher'``: the name of the branch's teacher."""
        return f'{branch_name}_teacher'

    def branch(self, name: str) -> nn.Module:
        """The branch ``name`` (unwrapped from DDP if wrapped)."""
        return unwrap_model(getattr(self, name))

    def teacher(self, name: str) -> nn.Module:
        """The teacher of branch ``name`` (unwrapped from DDP)."""
        return unwrap_model(getattr(self, self.teacher_name(name)))

    @property
    def in_teacher_init(self) -> bool:
        """Whether the next training step initialises the teachers."""
        return int(self.teacher_init_steps) < self.teacher_init_iters

    #: the 0-based epoch from MMEngine's message hub (0 if unknown)
    current_epoch = staticmethod(current_epoch)
    tau = property(lambda self: self.distiller.tau)

    def schedule(self, epoch: Optional[float] = None) -> Dict[str, float]:
        """:meth:`DKELDistiller.schedule` at ``epoch`` (None: the message
        hub's)."""
        return self.distiller.schedule(
            self.current_epoch() if epoch is None else epoch)

    def _teacher_logits(self, inputs: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Every teacher's logits, without gradients."""
        return {name: logits_without_grad(
            getattr(self, self.teacher_name(name)), inputs)
            for name in self.branch_names}

    def compute_losses(self, student_logits: Dict[str, torch.Tensor],
                       teacher_logits: Dict[str, torch.Tensor], labels:
                       torch.Tensor, epoch: Optional[float] = None) -> dict:
        """:meth:`DKELDistiller.compute_losses` at ``epoch`` (None: the
        message hub's)."""
        return self.distiller.compute_losses(
            student_logits, teacher_logits, labels,
            self.current_epoch() if epoch is None else epoch)

    # ----------------------------------------------------- teacher phases
    def _teacher_init_step(
            self, inputs: torch.Tensor, labels: torch.Tensor,
            optim_wrapper: OptimWrapperDict) -> Dict[str, torch.Tensor]:
        """One CE-only SGD step of every teacher; returns the teachers'
        logits before the step (detached), used as this iteration's
        targets."""
        logits = {}
        for name in self.branch_names:
            teacher = self.teacher(name)
            group = optim_wrapper[name].optimizer.param_groups[0]
            lr = float(group['lr']) * self.teacher_init_lr_ratio
            wd = self.teacher_init_weight_decay
            if wd is None:
                wd = float(group.get('weight_decay', 0.0))
            params = list(teacher.parameters())
            teacher.requires_grad_(True)
            try:
                with torch.enable_grad():
                    out = teacher(inputs, mode='tensor')
                    loss = F.cross_entropy(out, labels)
                    grads = torch.autograd.grad(
                        loss, params, allow_unused=True)
            finally:
                teacher.requires_grad_(False)
            sgd_step_(params, grads, lr, wd)
            logits[name] = out.detach()
        self.teacher_init_steps += 1
        return logits

    @torch.no_grad()
    def ema_update_teachers(self) -> float:
        """One EMA step of every teacher towards its branch, with momentum
        :math:`\\alpha_s` at ``s = ema_steps + ema_step_offset``; increments
        ``ema_steps`` (the number of EMA updates done).

        Returns:
            float: The momentum used.
        """
        momentum = ema_momentum(
            int(self.ema_steps) + self.ema_step_offset, self.ema_max_momentum)
        for name in self.branch_names:
            ema_update_(self.teacher(name).parameters(),
                        self.branch(name).parameters(), momentum)
        self.ema_steps += 1
        return momentum

    # ------------------------------------------------------------ steps
    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: OptimWrapperDict) -> Dict[str, torch.Tensor]:
        """One DKEL iteration: (teacher CE step during the initialisation
        phase), teacher targets, per-branch forward / loss / update with the
        branch's own optimizer wrapper, then (after the initialisation
        phase) one EMA step of every teacher.

        Args:
            data (dict or tuple or list): A batch from the dataloader.
            optim_wrapper (OptimWrapperDict): One wrapper per branch name.

        Returns:
            Dict[str, torch.Tensor]: Log variables: ``loss`` (sum over
            branches), ``<branch>.loss_ce/loss_kd/loss_peer``,
            ``<branch>_teacher.ce`` (the teachers' CE on the batch),
            ``decay_weight``, ``rampup_weight``, ``ema_momentum`` (the EMA
            momentum used, 0 during the initialisation phase) and
            ``teacher_init`` (1 during the initialisation phase).
        """
        data = self.data_preprocessor(data, True)
        inputs, data_samples = data['inputs'], data['data_samples']
        labels = gt_labels(data_samples)
        epoch = self.current_epoch()

        init_phase = self.in_teacher_init
        if init_phase:
            teacher_logits = self._teacher_init_step(inputs, labels,
                                                     optim_wrapper)
        else:
            teacher_logits = self._teacher_logits(inputs)

        student_logits = OrderedDict()
        for name in self.branch_names:
            branch = getattr(self, name)
            with optim_wrapper[name].optim_context(branch):
                student_logits[name] = branch(inputs, mode='tensor')
        losses = self.compute_losses(student_logits, teacher_logits, labels,
                                     epoch)

        log_vars: Dict[str, torch.Tensor] = OrderedDict()
        total = 0.0
        for name in self.branch_names:
            loss, branch_vars = self.parse_losses(
                {f'{name}.{k}': v
                 for k, v in losses[name].items()})
            optim_wrapper[name].update_params(loss)
            total = total + loss.detach()
            for key, value in branch_vars.items():
                if key != 'loss':
                    log_vars[key] = value.detach()
        for name in self.branch_names:
            log_vars[f'{self.teacher_name(name)}.ce'] = F.cross_entropy(
                teacher_logits[name].float(), labels).detach()

        momentum = 0.0 if init_phase else self.ema_update_teachers()
        scalars = dict(self.schedule(epoch), ema_momentum=momentum,
                       teacher_init=float(init_phase))
        log_vars['loss'] = total
        log_vars.update({k: torch.tensor(v, device=inputs.device)
                         for k, v in scalars.items()})
        log_vars.move_to_end('loss', last=False)
        return log_vars

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor') -> ForwardResults:
        """``'tensor'``/``'predict'``: the ``predict_with`` branch's logits /
        predictions; ``'loss'``: DKEL's loss dict of all branches (no
        update)."""
        if mode == 'tensor':
            return getattr(self, self.predict_with)(inputs, mode='tensor')
        if mode == 'predict':
            return getattr(self, self.predict_with)(
                inputs, data_samples, mode='predict')
        if mode == 'loss':
            labels = gt_labels(data_samples)
            student_logits = {
                n: getattr(self, n)(inputs, mode='tensor')
                for n in self.branch_names
            }
            losses = self.compute_losses(student_logits,
                                         self._teacher_logits(inputs), labels)
            return OrderedDict((f'{n}.{k}', v)
                               for n, d in losses.items()
                               for k, v in d.items())
        raise RuntimeError(f'Invalid mode "{mode}".')

    # -------------------------------------------------------- validation
    @torch.no_grad()
    def predict_all(self,
                    inputs: torch.Tensor,
                    data_samples: Optional[List[DataSample]] = None
                    ) -> Dict[str, List[DataSample]]:
        """Predictions of every branch, every teacher and the ensemble (the
        mean of the branches' logits) in one pass, for a multi-model
        validation loop.

        Args:
            inputs (torch.Tensor): Preprocessed images ``(N, C, H, W)``.
            data_samples (List[DataSample], optional): The samples, copied
                (not modified). Defaults to None.

        Returns:
            Dict[str, List[DataSample]]: ``{<branch>: .., <branch>_teacher:
            .., 'ensemble': ..}``, each with ``pred_score``/``pred_label``.
        """
        results: Dict[str, List[DataSample]] = OrderedDict()
        branch_logits = []
        for name in self.branch_names:
            logits = getattr(self, name)(inputs, mode='tensor')
            branch_logits.append(logits)
            results[name] = logits_to_predictions(logits, data_samples)
        for name in self.branch_names:
            logits = getattr(self, self.teacher_name(name))(
                inputs, mode='tensor')
            results[self.teacher_name(name)] = logits_to_predictions(
                logits, data_samples)
        results['ensemble'] = logits_to_predictions(
            torch.stack(branch_logits).mean(0), data_samples)
        return results

    # ------------------------------------------------------------ init
    def init_weights(self) -> None:
        """Initialise the branches, then copy each branch into its teacher
        (so that every teacher starts as a copy of its branch)."""
        super().init_weights()
        self.sync_teachers_from_branches()

    @torch.no_grad()
    def sync_teachers_from_branches(self) -> None:
        """Copy every branch's state (parameters and buffers) into its
        teacher."""
        for name in self.branch_names:
            self.teacher(name).load_state_dict(self.branch(name).state_dict())
