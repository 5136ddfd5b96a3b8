"""DKEL: decoupled knowledge with ensemble learning, an online distillation
algorithm without a pre-trained teacher (Shao & Chen, arXiv 2312.11218)."""
import copy
from collections import OrderedDict
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import all_reduce, get_world_size
from mmengine.logging import MessageHub
from mmengine.model import BaseModel, is_model_wrapper
from mmengine.optim import OptimWrapperDict
from mmpretrain.structures import DataSample

from mmrazor.registry import MODELS
from .dkel_functional import (decay_weight, ema_momentum, ema_update_,
                              sigmoid_rampup, soft_kd_loss)

__all__ = ['DecoupledOnlineDistill']

ForwardResults = Union[Dict[str, torch.Tensor], List[DataSample],
                       torch.Tensor]


def _unwrap(module: nn.Module) -> nn.Module:
    """The module inside a (distributed) model wrapper, or ``module``."""
    return module.module if is_model_wrapper(module) else module


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
       counts the EMA updates done so far (0 at the first one, as in the
       authors' code, so the first update copies the branch's weights; the
       teacher keeps its own BatchNorm statistics, which the EMA leaves
       alone).

    Teachers run in the model's mode: in training they see the batch in
    train mode under ``no_grad`` (batch statistics; their running statistics
    follow their own activations, as in the authors' code), in validation in
    eval mode.

    Loss of branch :math:`i` at epoch :math:`e`, with logits :math:`z_i`,
    teacher logits :math:`t_j`, the detached online ensemble
    :math:`\\bar z = \\frac{1}{N} \\sum_j z_j` and
    :math:`KD(a, b) = \\tau^2 KL(\\sigma(b/\\tau) \\| \\sigma(a/\\tau))`:

    .. math::

        L_i = \\lambda_{ce} CE(z_i, y)
            + r_e \\lambda_{kd} KD(z_i, \\bar z)
            + r_e \\lambda_{peer} \\Big[ w_e KD\\big(z_i,
              \\tfrac{1}{N-1} \\textstyle\\sum_{j \\ne i} t_j\\big)
            + (1 - w_e) \\tfrac{1}{N-1} \\textstyle\\sum_{j \\ne i}
              KD(z_i, t_j) \\Big]

    with the decaying ensemble weight :math:`w_e = e^{-k e}` (0 once below
    ``decay_cutoff``) and the sigmoid ramp-up
    :math:`r_e = \\exp(-5 (1 - \\min(e, T)/T)^2)` (``rampup_epochs`` = T;
    1 when T = 0). The authors' ramp-up helper divides by the loss weight
    instead of T, which keeps the distillation terms near 0 until epoch 81;
    this implementation uses the intended formula.

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
        tau (float): Distillation temperature. Defaults to 3.0.
        ce_weight (float): :math:`\\lambda_{ce}`. Defaults to 1.0.
        kd_weight (float): :math:`\\lambda_{kd}`, weight of the distillation
            to the online ensemble. Defaults to 1.0.
        peer_weight (float): :math:`\\lambda_{peer}`, weight of the
            distillation from the other branches' teachers. Defaults to 1.0.
        decay_k (float): Decay rate ``k`` of :math:`w_e`. Defaults to 0.5.
        decay_cutoff (float): :math:`w_e` below this becomes 0.
            Defaults to 0.01.
        rampup_epochs (float): Ramp-up length T in epochs; 0 switches the
            ramp-up off. Defaults to 0.
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
                 predict_with: Optional[str] = None,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not isinstance(branches, dict) or len(branches) < 2:
            raise ValueError('DKEL needs a dict of at least two branches, '
                             f'got {type(branches).__name__} of '
                             f'{len(branches) if branches else 0}')
        if tau <= 0:
            raise ValueError(f'tau must be > 0, got {tau}')
        if teacher_init_iters < 0 or rampup_epochs < 0:
            raise ValueError('teacher_init_iters and rampup_epochs must be '
                             '>= 0')
        self.branch_names: List[str] = list(branches.keys())
        for name, cfg in branches.items():
            teacher_name = self.teacher_name(name)
            if not name.isidentifier() or hasattr(self, name) or hasattr(
                    self, teacher_name):
                raise ValueError(f'invalid or reserved branch name {name!r}')
            branch = cfg if isinstance(cfg, nn.Module) else MODELS.build(cfg)
            self.add_module(name, branch)
            teacher = copy.deepcopy(branch)
            teacher.requires_grad_(False)
            self.add_module(teacher_name, teacher)
        if predict_with is None:
            predict_with = self.branch_names[0]
        if predict_with not in self.branch_names:
            raise ValueError(f'predict_with={predict_with!r} is not one of '
                             f'{self.branch_names}')
        self.predict_with = predict_with

        self.tau = float(tau)
        self.ce_weight = float(ce_weight)
        self.kd_weight = float(kd_weight)
        self.peer_weight = float(peer_weight)
        self.decay_k = float(decay_k)
        self.decay_cutoff = float(decay_cutoff)
        self.rampup_epochs = float(rampup_epochs)
        self.teacher_init_iters = int(teacher_init_iters)
        self.teacher_init_lr_ratio = float(teacher_init_lr_ratio)
        self.teacher_init_weight_decay = teacher_init_weight_decay
        self.ema_max_momentum = float(ema_max_momentum)
        # phase counters, saved in checkpoints
        self.register_buffer('teacher_init_steps',
                             torch.zeros((), dtype=torch.long))
        self.register_buffer('ema_steps', torch.zeros((), dtype=torch.long))

    # ----------------------------------------------------------- helpers
    @staticmethod
    def teacher_name(branch_name: str) -> str:
        """Name of the teacher child of branch ``branch_name``.

        Args:
            branch_name (str): A branch name.

        Returns:
            str: ``f'{branch_name}_teacher'``.
        """
        return f'{branch_name}_teacher'

    def branch(self, name: str) -> nn.Module:
        """The branch ``name`` (unwrapped from DDP if wrapped)."""
        return _unwrap(getattr(self, name))

    def teacher(self, name: str) -> nn.Module:
        """The teacher of branch ``name`` (unwrapped from DDP)."""
        return _unwrap(getattr(self, self.teacher_name(name)))

    @property
    def in_teacher_init(self) -> bool:
        """Whether the next training step is a teacher-initialisation
        step."""
        return int(self.teacher_init_steps) < self.teacher_init_iters

    @staticmethod
    def current_epoch() -> int:
        """The 0-based epoch from MMEngine's message hub (0 if unknown)."""
        epoch = MessageHub.get_current_instance().get_info('epoch')
        return int(epoch) if epoch is not None else 0

    def schedule(self, epoch: Optional[float] = None) -> Dict[str, float]:
        """The epoch-dependent weights.

        Args:
            epoch (float, optional): The epoch; None reads the message hub.
                Defaults to None.

        Returns:
            Dict[str, float]: ``decay_weight`` (:math:`w_e`) and
            ``rampup_weight`` (:math:`r_e`).
        """
        if epoch is None:
            epoch = self.current_epoch()
        return dict(
            decay_weight=decay_weight(epoch, self.decay_k, self.decay_cutoff),
            rampup_weight=sigmoid_rampup(epoch, self.rampup_epochs))

    @staticmethod
    def _gt_labels(data_samples: List[DataSample]) -> torch.Tensor:
        return torch.cat([ds.gt_label for ds in data_samples]).long()

    def _teacher_logits(self, inputs: torch.Tensor) -> Dict[str, torch.Tensor]:
        with torch.no_grad():
            return {
                name: getattr(self, self.teacher_name(name))(
                    inputs, mode='tensor')
                for name in self.branch_names
            }

    # ------------------------------------------------------------ losses
    def compute_losses(self,
                       student_logits: Dict[str, torch.Tensor],
                       teacher_logits: Dict[str, torch.Tensor],
                       labels: torch.Tensor,
                       epoch: Optional[float] = None
                       ) -> Dict[str, Dict[str, torch.Tensor]]:
        """DKEL's loss terms of every branch (see the class docstring).

        Args:
            student_logits (Dict[str, torch.Tensor]): Branch logits ``z_i``.
            teacher_logits (Dict[str, torch.Tensor]): Teacher logits ``t_i``
                (used detached).
            labels (torch.Tensor): Class indices, shape ``(N,)``.
            epoch (float, optional): The epoch; None reads the message hub.
                Defaults to None.

        Returns:
            Dict[str, Dict[str, torch.Tensor]]: ``{branch: {'loss_ce': ..,
            'loss_kd': .., 'loss_peer': ..}}``, weights already applied.
        """
        sched = self.schedule(epoch)
        w_e, r_e = sched['decay_weight'], sched['rampup_weight']
        student_logits = {n: z.float() for n, z in student_logits.items()}
        teacher_logits = {n: t.float() for n, t in teacher_logits.items()}
        ensemble = torch.stack([student_logits[n].detach()
                                for n in self.branch_names]).mean(0)
        losses: Dict[str, Dict[str, torch.Tensor]] = OrderedDict()
        for name in self.branch_names:
            z = student_logits[name]
            others = [
                teacher_logits[n].detach() for n in self.branch_names
                if n != name
            ]
            individual = sum(soft_kd_loss(z, t, self.tau)
                             for t in others) / len(others)
            if w_e > 0:
                ens_t = torch.stack(others).mean(0)
                peer = w_e * soft_kd_loss(z, ens_t, self.tau) + (
                    1.0 - w_e) * individual
            else:
                peer = individual
            losses[name] = OrderedDict(
                loss_ce=self.ce_weight * F.cross_entropy(z, labels),
                loss_kd=r_e * self.kd_weight *
                soft_kd_loss(z, ensemble, self.tau),
                loss_peer=r_e * self.peer_weight * peer)
        return losses

    # ----------------------------------------------------- teacher phases
    def _teacher_init_step(
            self, inputs: torch.Tensor, labels: torch.Tensor,
            optim_wrapper: OptimWrapperDict) -> Dict[str, torch.Tensor]:
        """One CE-only SGD step of every teacher; returns the teachers'
        logits before the step (detached), used as this iteration's
        targets."""
        logits = {}
        world_size = get_world_size()
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
            with torch.no_grad():
                for p, g in zip(params, grads):
                    if g is None:
                        continue
                    if world_size > 1:
                        all_reduce(g, op='mean')
                    if wd:
                        g = g.add(p, alpha=wd)
                    p.add_(g, alpha=-lr)
            logits[name] = out.detach()
        self.teacher_init_steps += 1
        return logits

    @torch.no_grad()
    def ema_update_teachers(self) -> float:
        """One EMA step of every teacher towards its branch, with momentum
        :math:`\\alpha_s` at ``s = ema_steps``; increments ``ema_steps``.

        Returns:
            float: The momentum used.
        """
        momentum = ema_momentum(int(self.ema_steps), self.ema_max_momentum)
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
        labels = self._gt_labels(data_samples)
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
        sched = self.schedule(epoch)
        device = inputs.device
        log_vars['loss'] = total
        log_vars['decay_weight'] = torch.tensor(
            sched['decay_weight'], device=device)
        log_vars['rampup_weight'] = torch.tensor(
            sched['rampup_weight'], device=device)
        log_vars['ema_momentum'] = torch.tensor(momentum, device=device)
        log_vars['teacher_init'] = torch.tensor(
            float(init_phase), device=device)
        log_vars.move_to_end('loss', last=False)
        return log_vars

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor') -> ForwardResults:
        """``tensor``/``predict``: the ``predict_with`` branch's logits /
        predictions; ``loss``: DKEL's loss dict of all branches (no update).

        Args:
            inputs (torch.Tensor): Preprocessed images ``(N, C, H, W)``.
            data_samples (List[DataSample], optional): The samples.
                Defaults to None.
            mode (str): ``'tensor'``, ``'predict'`` or ``'loss'``.
                Defaults to ``'tensor'``.

        Returns:
            torch.Tensor or List[DataSample] or Dict[str, torch.Tensor]:
            Depends on ``mode``.
        """
        if mode == 'tensor':
            return getattr(self, self.predict_with)(inputs, mode='tensor')
        if mode == 'predict':
            return getattr(self, self.predict_with)(
                inputs, data_samples, mode='predict')
        if mode == 'loss':
            labels = self._gt_labels(data_samples)
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
    @staticmethod
    def _to_samples(logits: torch.Tensor,
                    data_samples: Optional[List[DataSample]]
                    ) -> List[DataSample]:
        scores = F.softmax(logits.float(), dim=1)
        labels = scores.argmax(dim=1, keepdim=True)
        out = []
        for i in range(scores.size(0)):
            sample = (data_samples[i].clone()
                      if data_samples is not None else DataSample())
            sample.set_pred_score(scores[i]).set_pred_label(labels[i])
            out.append(sample)
        return out

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
            results[name] = self._to_samples(logits, data_samples)
        for name in self.branch_names:
            logits = getattr(self, self.teacher_name(name))(
                inputs, mode='tensor')
            results[self.teacher_name(name)] = self._to_samples(
                logits, data_samples)
        results['ensemble'] = self._to_samples(
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
