"""UDSKD's algorithm: one frozen teacher, ``N >= 2`` students, one step.

Gore, Dey, Mishra, "Uncertainty-Aware Dual-Student Knowledge Distillation",
arXiv 2511.18826. With ``teacher=None`` the students learn from their labels
and from each other only: Deep Mutual Learning (Zhang et al., CVPR 2018). The losses are composed by
:class:`~mmrazor_udskd.models.distillers.MultiStudentDistiller`; how the
students' graphs are run is a peer step of :mod:`.peer_steps`.
"""
from typing import Dict, List, Optional, Union

import torch
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmpretrain.structures import DataSample
from mmrazor.registry import MODELS
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ...utils.validation import (check_choice, check_predict_with,
                                 check_student_names)
from ..distillers import MultiStudentDistiller
from ..utils import (apply_speed_options, build_students_and_teacher,
                     ce_targets, check_speed_options, checkpoint_students,
                     logits_of, logits_to_predictions, logits_without_grad,
                     register_wrapper_key_hooks, to_memory_format,
                     to_predictions, unwrap_model)
from ..utils.precision import check_precision, precision_context
from .peer_steps import PEER_STEPS, student_wrappers

__all__ = ['MultiStudentDistill']


@MODELS.register_module()
class MultiStudentDistill(BaseModel):
    """One frozen teacher distilled into ``N >= 2`` peer students (UDSKD),
    or ``N >= 2`` peer students without a teacher (DML).

    Every student is a top-level child module named by its key in
    ``students``, so the names appear unchanged in the loss keys
    (``r18.loss_ce``), metric prefixes (``r18/accuracy/top1``), optimizer
    keys (``StudentOptimWrapperConstructor`` overrides, or
    ``SeparateOptimWrapperConstructor`` entries) and checkpoint keys
    (``r18.backbone.conv1.weight``); ``MMSeparateDistributedDataParallel``
    wraps each student in its own DDP. Per batch, :meth:`train_step` runs
    the data preprocessor once, the teacher once (no grad) and every
    student once, then updates each student with its own optimizer wrapper
    by its own ``L_i = alpha * CE + beta * teacher_loss + gamma * peer_loss``
    (see :class:`~mmrazor_udskd.models.distillers.MultiStudentDistiller`).

    **No-teacher mode** (``teacher=None``; Deep Mutual Learning, Zhang et
    al., CVPR 2018): no teacher is built or run, ``beta`` must be 0, the
    teacher term and the teacher-confidence statistics are absent from the
    log, and validation scores the students and their ensemble only. Each
    student minimises ``alpha * CE + gamma * peer_loss``.

    Args:
        teacher (dict | nn.Module, optional): The teacher: a model config
            (e.g. ``dict(cfg_path='mmpretrain::...', pretrained=False)``) or
            model; None for the no-teacher mode (DML).
        students (Dict[str, dict | nn.Module]): At least two students, keyed
            by their names (Python identifiers). Each must return its logits
            for ``student(inputs, mode='tensor')``.
        teacher_ckpt (str, optional): Checkpoint (path or URL) loaded
            weights-only into the teacher; keys and shapes must match
            exactly. Required unless the teacher config loads pretrained
            weights itself (``init_cfg=dict(type='Pretrained', ...)``);
            ``'random'`` keeps a random teacher on purpose (tests, smoke
            runs). Defaults to None (an error for a teacher config without
            pretrained weights, before anything is built).
        alpha, beta, gamma (float): Loss weights. Defaults to 0.4, 0.4, 0.2.
            The CE term that ``alpha`` weighs is each student head's own
            loss (``head.loss``, e.g. ``LabelSmoothLoss``; with the soft
            targets of batch augmentation), its ``loss_weight`` not applied.
        student_loss_weights (Dict[str, dict], optional): Per-student
            overrides, e.g. ``dict(mbv2=dict(gamma=0.1))``. Defaults to None.
        tau (float): Distillation temperature. Defaults to 4.0.
        teacher_loss (dict, optional): Teacher term; defaults to
            ``dict(type='EntropyWeightedKDLoss', weighting='entropy')``.
        peer_loss (dict, optional): Peer term; defaults to
            ``dict(type='PeerKLLoss')``. (These six: see the distiller.)
        teacher_norm_eval (bool): Keep the teacher's norm layers in eval mode
            during training. Defaults to True.
        predict_with (str, optional): Student used by ``mode='predict'`` and
            ``mode='tensor'``. Defaults to None (the first student).
        val_teacher (bool): Whether :meth:`predict_all` also scores the
            teacher. Defaults to True.
        memory_format (str): ``'contiguous_format'`` (NCHW) or
            ``'channels_last'`` (NHWC) for the nets' 4-D weights and the
            inputs. Defaults to ``'contiguous_format'``.
        teacher_grad_mode (str): ``'no_grad'`` or ``'inference_mode'`` for
            the teacher forward. Defaults to ``'no_grad'``.
        torch_compile (bool | dict): Compile the teacher's and students'
            forwards (``nn.Module.compile``; names unchanged); a dict holds
            its keyword arguments. Defaults to False.
        data_preprocessor (dict | nn.Module, optional): The data
            preprocessor. Defaults to None (the first student's).
        peer_mode (str): ``'parallel'`` (every student's graph kept until
            the updates; fastest) or ``'sequential'`` (one graph at a time:
            less memory for one extra forward per extra student, the same
            losses and updates; needs one optimizer wrapper per student). See
            :mod:`.peer_steps`. Defaults to ``'parallel'``.
        activation_checkpoint (Dict[str, List[str]], optional): Per student,
            submodule name patterns (``fnmatch``) whose activations are
            recomputed in the backward with their BatchNorm statistics kept
            (:func:`~mmrazor_udskd.models.utils.checkpoint_submodules`); the
            same losses and gradients. Those students run their forwards
            first. Defaults to None.
        check_finite (bool): Stop with an error naming the model and the
            iteration when logits or a loss are NaN/inf, before any update
            (one host sync per iteration and one per student). Defaults to
            True.
        teacher_precision (str, optional): Autocast of the teacher forward:
            ``'fp32'``, ``'bf16'``, ``'fp16'`` (CUDA only) or ``'auto'``
            (bf16 where the device has native bf16, else fp32; see
            :mod:`..utils.precision`). Students take their optimizer
            wrappers' precision (``AmpOptimWrapper``); losses are fp32 either
            way. Defaults to None: the first student's wrapper's context.
        init_cfg (dict, optional): Initialization config. Defaults to None.

    Errors name the config field (``model.tau``, ``model.students``,
    ``model.student_loss_weights.<name>.gamma``, ``model.teacher_ckpt``...).
    """

    def __init__(self,
                 teacher: Optional[Union[dict, nn.Module]],
                 students: Dict[str, Union[dict, nn.Module]],
                 teacher_ckpt: Optional[str] = None,
                 alpha: float = 0.4,
                 beta: float = 0.4,
                 gamma: float = 0.2,
                 student_loss_weights: Optional[Dict[str, dict]] = None,
                 tau: float = 4.0,
                 teacher_loss: Optional[dict] = None,
                 peer_loss: Optional[dict] = None,
                 teacher_norm_eval: bool = True,
                 predict_with: Optional[str] = None,
                 val_teacher: bool = True,
                 memory_format: str = 'contiguous_format',
                 teacher_grad_mode: str = 'no_grad',
                 torch_compile: Union[bool, dict] = False,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 peer_mode: str = 'parallel',
                 activation_checkpoint: Optional[Dict[str, List[str]]] = None,
                 check_finite: bool = True,
                 teacher_precision: Optional[str] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if not isinstance(students, dict):
            raise ValueError(
                '`model.students` must be a dict of at least two models keyed '
                f'by name, got {type(students).__name__}')
        names = check_student_names(list(students))
        distiller = MultiStudentDistiller(
            names, dict(alpha=alpha, beta=beta, gamma=gamma),
            student_loss_weights, 'model', tau, teacher_loss, peer_loss,
            has_teacher=teacher is not None)
        speed = check_speed_options(memory_format, teacher_grad_mode,
                                    torch_compile)
        check_choice(peer_mode, tuple(PEER_STEPS), 'model.peer_mode')
        predict_with = check_predict_with(predict_with, names)
        if teacher_precision is not None:
            check_precision(teacher_precision, 'model.teacher_precision')
        built, frozen_teacher = build_students_and_teacher(
            students, teacher, teacher_ckpt)
        # each student's CE term is its head's own loss (label smoothing...)
        distiller.set_ce_losses({name: getattr(student, 'head', None)
                                 for name, student in built.items()})
        if data_preprocessor is None:
            data_preprocessor = getattr(
                next(iter(built.values())), 'data_preprocessor', None)
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.distiller = distiller
        # frozen as in MMRazor's SingleTeacherDistill (None: DML)
        self.teacher: Optional[nn.Module] = frozen_teacher
        self.teacher_norm_eval = teacher_norm_eval
        self.memory_format, self.teacher_grad_mode, self.compile_kwargs = speed
        # the step strategy; the string stays the config's word for it
        self.peer_mode, self.peer_step = peer_mode, PEER_STEPS[peer_mode]
        self.check_finite = bool(check_finite)
        self.teacher_precision = teacher_precision
        self.val_teacher, self.predict_with = val_teacher, predict_with
        # students last, so that a name colliding with any attribute is
        # caught; they are top-level children named by their config keys
        self.student_names: List[str] = []
        for name, student in built.items():
            if hasattr(self, name):
                raise ValueError(
                    f'student name {name!r} in `students` collides with an '
                    'attribute of MultiStudentDistill (e.g. teacher, '
                    'data_preprocessor, teacher_loss, peer_loss); rename it')
            self.add_module(name, student)
            self.student_names.append(name)
        self.checkpointed = checkpoint_students(built, activation_checkpoint)
        self.forward_order = sorted(names, key=lambda n: n not in
                                    self.checkpointed)
        # teacher norm layers in eval mode from the start
        self.train(self.training)
        register_wrapper_key_hooks(self, 'student_names')
        nets = [self.teacher] if self.teacher is not None else []
        apply_speed_options(nets + list(built.values()), self.memory_format,
                            self.compile_kwargs)

    # the distiller's parts, under the names configs and tools use
    teacher_loss = property(lambda self: self.distiller.teacher_loss)
    peer_loss = property(lambda self: self.distiller.peer_loss)
    tau = property(lambda self: self.distiller.tau)
    loss_weights = property(lambda self: self.distiller.loss_weights)
    _targets = staticmethod(ce_targets)
    _to_predictions = staticmethod(to_predictions)

    @property
    def students(self) -> Dict[str, nn.Module]:
        """The students by name, unwrapped from any DDP wrapper."""
        return {name: unwrap_model(self._modules[name])
                for name in self.student_names}

    def _prepare_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """The preprocessed inputs in ``memory_format``."""
        return to_memory_format(inputs, self.memory_format)

    def teacher_logits(self,
                       inputs: torch.Tensor) -> Optional[torch.Tensor]:
        """One teacher forward without gradients (``teacher_grad_mode``);
        None without a teacher (DML)."""
        if self.teacher is None:
            return None
        return logits_without_grad(self.teacher, inputs,
                                   self.teacher_grad_mode)

    def student_logits(self, name: str, inputs: torch.Tensor) -> torch.Tensor:
        """One forward of student ``name`` through its top-level child (its
        DDP wrapper under distributed training, so gradients are synced)."""
        return logits_of(self._modules[name](inputs, mode='tensor'))

    def student_losses(self, *args) -> tuple:
        """:meth:`MultiStudentDistiller.student_losses`."""
        return self.distiller.student_losses(*args)

    def peer_targets(self, *args) -> List[torch.Tensor]:
        """:meth:`MultiStudentDistiller.peer_targets`."""
        return self.distiller.peer_targets(*args)

    def loss(self, inputs: torch.Tensor,
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """All students' weighted loss terms, for ``mode='loss'``: summing
        the keys that contain ``loss`` gives ``sum_i L_i``.

        Returns:
            Dict[str, Tensor]: ``<name>.loss_ce``, ``<name>.loss_teacher``,
            ``<name>.loss_peer`` per student and the detached ``stats.*``.
        """
        inputs = self._prepare_inputs(inputs)
        teacher_logits = self.teacher_logits(inputs)
        logits = {name: self.student_logits(name, inputs)
                  for name in self.student_names}
        targets = ce_targets(data_samples)
        losses: Dict[str, torch.Tensor] = {}
        stats: Dict[str, torch.Tensor] = {}
        for name in self.student_names:
            terms, own_stats = self.student_losses(name, logits,
                                                   teacher_logits, targets)
            losses.update({f'{name}.{k}': v for k, v in terms.items()})
            stats = stats or own_stats
        losses.update({f'stats.{k}': v for k, v in stats.items()})
        return losses

    def train_step(
        self, data: Union[dict, tuple, list],
        optim_wrapper: Union[OptimWrapperDict, OptimWrapper]
    ) -> Dict[str, torch.Tensor]:
        """One UDSKD iteration: every student updated by its own loss.

        Args:
            data (dict | tuple | list): A batch from the dataloader.
            optim_wrapper (OptimWrapperDict | OptimWrapper): One wrapper per
                student name (``StudentOptimWrapperConstructor`` or
                ``SeparateOptimWrapperConstructor``); a single wrapper updates
                all students with ``sum_i L_i``.

        Returns:
            Dict[str, Tensor]: Detached log values: per student
            ``<name>.loss_ce``, ``<name>.loss_teacher``, ``<name>.loss_peer``,
            ``<name>.loss``; ``stats.weight_mean``, ``stats.entropy_t1``,
            ``stats.entropy_tau``, ``stats.uncertain_ratio`` (share of
            samples with w < 0.5) and ``stats.one_minus_weight_mean`` (1 -
            mean w, the paper's "uncertain share"), from the teacher loss if
            it has them; ``loss`` (sum over students).
        """
        data = self.data_preprocessor(data, True)
        inputs = self._prepare_inputs(data['inputs'])
        first = student_wrappers(optim_wrapper, self.student_names)[
            self.student_names[0]]
        # teacher once (none in the no-teacher mode), in teacher_precision
        # or under the first wrapper's context (AMP autocast when that
        # wrapper is an AmpOptimWrapper)
        teacher_logits = None
        if self.teacher is not None:
            context = first.optim_context(self.teacher) \
                if self.teacher_precision is None else \
                precision_context(self.teacher_precision, inputs.device.type)
            with context:
                teacher_logits = self.teacher_logits(inputs)
        return self.peer_step(self)(inputs, data['data_samples'],
                                    teacher_logits, optim_wrapper)

    def predict_all(self, inputs: torch.Tensor,
                    data_samples: Optional[List[DataSample]] = None
                    ) -> Dict[str, List[DataSample]]:
        """Predictions of every student, their ensemble and the teacher, the
        protocol :class:`MultiModelValLoop` scores in one pass.

        Returns:
            Dict[str, List[DataSample]]: Each student name, then
            ``ensemble`` (``pred_score`` = mean of the students' softmax
            probabilities), then ``teacher`` if ``val_teacher`` and there
            is a teacher.
        """
        inputs = self._prepare_inputs(inputs)
        probs = {name: self.student_logits(name, inputs).float().softmax(1)
                 for name in self.student_names}
        results = {name: to_predictions(p, data_samples)
                   for name, p in probs.items()}
        ensemble = torch.stack(list(probs.values())).mean(dim=0)
        results['ensemble'] = to_predictions(ensemble, data_samples)
        if self.val_teacher and self.teacher is not None:
            results['teacher'] = logits_to_predictions(
                self.teacher_logits(inputs), data_samples)
        return results

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'
                ) -> Union[Dict[str, torch.Tensor], List[DataSample],
                           torch.Tensor]:
        """``'loss'`` (see :meth:`loss`), ``'predict'`` (predictions of
        ``predict_with``) or ``'tensor'`` (its logits)."""
        inputs = self._prepare_inputs(inputs)
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'tensor':
            return self.student_logits(self.predict_with, inputs)
        if mode == 'predict':
            return logits_to_predictions(
                self.student_logits(self.predict_with, inputs), data_samples)
        raise RuntimeError(f'Invalid mode "{mode}"; use loss, predict or '
                           'tensor')

    def train(self, mode: bool = True) -> 'MultiStudentDistill':
        """Set train/eval mode; the teacher's norm layers stay in eval mode
        when ``teacher_norm_eval``."""
        super().train(mode)
        if mode and self.teacher_norm_eval and self.teacher is not None:
            for module in self.teacher.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self
