"""Uncertainty-aware dual-student knowledge distillation (UDSKD).

Gore, Dey, Mishra, "Uncertainty-Aware Dual-Student Knowledge Distillation",
arXiv 2511.18826. One frozen teacher guides ``N >= 2`` students (the paper's
dual-student setting is ``N = 2``) that also learn from each other. For
student ``i`` with logits ``z_i``, teacher logits ``z_t`` and label ``y``:

.. math::

    L_i = \\alpha \\, CE(z_i, y)
        + \\beta \\, \\frac{1}{B} \\sum_b w_b \\, \\tau^2
          KL(\\sigma(z_{t,b} / \\tau) \\,\\|\\, \\sigma(z_{i,b} / \\tau))
        + \\gamma \\, \\tau^2 KL(\\sigma(\\bar z_{-i} / \\tau) \\,\\|\\,
          \\sigma(z_i / \\tau))

where ``w_b = confidence_weight(z_{t,b})`` down-weights samples on which the
teacher is uncertain (high ``teacher_entropy``) and ``\\bar z_{-i}`` are the
``peer_targets``: the other students' logits of the same forward pass,
detached. Each student has its own optimizer and is updated only by its own
loss.
"""
import inspect
import keyword
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub, print_log
from mmengine.model import BaseModel, is_model_wrapper
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmpretrain.structures import DataSample
from mmrazor.registry import MODELS
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ...utils.checks import (check_finite_losses, check_logits,
                             check_loss_weight, check_num_classes_agree,
                             check_positive, check_student_names,
                             check_trainable, head_num_classes,
                             load_state_dict_exactly)
from ..utils import checkpoint_submodules, kept_norm_stats
from ..utils.precision import check_precision, precision_context

__all__ = ['MultiStudentDistill']

#: the per-student loss weights that ``student_loss_weights`` may override
_WEIGHT_NAMES = ('alpha', 'beta', 'gamma')
#: statistics of the teacher loss that are logged as ``stats.<name>``
_STAT_NAMES = ('weight_mean', 'entropy_t1', 'entropy_tau', 'uncertain_ratio')
#: accepted ``memory_format`` values and the torch formats they select
_MEMORY_FORMATS = {'contiguous_format': torch.contiguous_format,
                   'channels_last': torch.channels_last}
#: accepted ``teacher_grad_mode`` values
_TEACHER_GRAD_MODES = ('no_grad', 'inference_mode')
_PEER_MODES = ('parallel', 'sequential')


def _logits_of(output: Union[torch.Tensor, Sequence[torch.Tensor]]
               ) -> torch.Tensor:
    """The classification logits of a ``mode='tensor'`` forward.

    Args:
        output (Tensor | Sequence[Tensor]): What a classifier returns in
            tensor mode: the logits, or a tuple whose last item holds them.

    Returns:
        Tensor: The logits, shape (B, C).
    """
    if isinstance(output, (tuple, list)):
        output = output[-1]
    return output


def _rng_state(device: torch.device) -> Tuple[torch.Tensor, ...]:
    """The generator states a forward on ``device`` may draw from.

    Args:
        device (torch.device): The inputs' device.

    Returns:
        Tuple[Tensor, ...]: The CPU state and, on CUDA, the device's.
    """
    if device.type == 'cuda':
        return torch.get_rng_state(), torch.cuda.get_rng_state(device)
    return (torch.get_rng_state(), )


def _set_rng_state(device: torch.device,
                   state: Tuple[torch.Tensor, ...]) -> None:
    """Restore what :func:`_rng_state` returned.

    Args:
        device (torch.device): The inputs' device.
        state (Tuple[Tensor, ...]): The saved states.
    """
    torch.set_rng_state(state[0])
    if device.type == 'cuda':
        torch.cuda.set_rng_state(state[1], device)


@MODELS.register_module()
class MultiStudentDistill(BaseModel):
    """One frozen teacher distilled into ``N >= 2`` peer students (UDSKD).

    Implements arXiv 2511.18826. Every student is a top-level child module
    named by its key in ``students``, so the names appear unchanged in the
    loss keys (``r18.loss_ce``), metric prefixes (``r18/accuracy/top1``),
    optimizer keys of ``SeparateOptimWrapperConstructor`` and checkpoint keys
    (``r18.backbone.conv1.weight``), and ``MMSeparateDistributedDataParallel``
    wraps each student in its own DDP.

    Per batch, :meth:`train_step` runs the data preprocessor once, the teacher
    once (no grad), every student once, then, for every student ``i``,
    computes

    ``L_i = alpha * CE(z_i, y) + beta * teacher_loss(z_i, z_t)
    + gamma * peer_loss(z_i, peer_targets)``

    with, by default, ``teacher_loss`` the confidence-weighted KD
    ``1/B sum_b w_b tau^2 KL(p_t || p_i)``, ``w_b = confidence_weight(z_t)
    = 1 - teacher_entropy(z_t) / log C``, and ``peer_loss`` the mean over
    peers of ``tau^2 KL(p_peer || p_i)`` (``peer_targets``: the other
    students' logits of this batch, detached); then it updates that student
    with its own optimizer wrapper.

    Args:
        teacher (dict | nn.Module): The teacher: a model config (e.g. an
            mmpretrain ``ImageClassifier`` dict, or
            ``dict(cfg_path='mmpretrain::...', pretrained=False)``) or a
            built model.
        students (Dict[str, dict | nn.Module]): At least two students, keyed
            by their names (Python identifiers). Each must return its logits
            for ``student(inputs, mode='tensor')``.
        teacher_ckpt (str, optional): Checkpoint (path or URL) loaded into
            the teacher. Defaults to None.
        alpha (float): Weight of the hard-label cross-entropy. The student
            head's own ``loss_weight`` is not applied. Defaults to 0.4.
        beta (float): Weight of ``teacher_loss``. Defaults to 0.4.
        gamma (float): Weight of ``peer_loss``. Defaults to 0.2.
        student_loss_weights (Dict[str, dict], optional): Per-student
            overrides of ``alpha``/``beta``/``gamma``, e.g.
            ``dict(mbv2=dict(gamma=0.1))``. Defaults to None.
        tau (float): Distillation temperature, passed to ``teacher_loss``
            and ``peer_loss`` when their configs take a ``tau`` and do not
            set one. Defaults to 4.0.
        teacher_loss (dict): Config of the teacher term, called as
            ``loss(preds_S, preds_T)``. Swap in e.g. ``ContrastiveLogitKDLoss``
            here. A ``stats()`` method, if present, is logged under
            ``stats.``. Defaults to
            ``dict(type='EntropyWeightedKDLoss', weighting='entropy')``.
        peer_loss (dict): Config of the peer term, called as
            ``loss(preds_S, peer_targets)`` with ``peer_targets`` a list of
            the other students' detached logits. Defaults to
            ``dict(type='PeerKLLoss')``.
        teacher_norm_eval (bool): Keep the teacher's norm layers in eval mode
            (frozen running statistics) during training. Defaults to True.
        predict_with (str, optional): Student used by ``mode='predict'`` and
            ``mode='tensor'``. Defaults to None (the first student).
        val_teacher (bool): Whether :meth:`predict_all` also scores the
            teacher. Defaults to True.
        memory_format (str): ``'contiguous_format'`` (NCHW) or
            ``'channels_last'`` (NHWC): the memory layout of the teacher's
            and students' 4-D weights and of the preprocessed inputs (the
            math is unchanged; NHWC is faster for depthwise convolutions on
            CPU and for tensor cores on GPU). Defaults to
            ``'contiguous_format'``.
        teacher_grad_mode (str): ``'no_grad'`` or ``'inference_mode'``: the
            autograd mode of the single teacher forward per batch. Both
            record no graph; ``'inference_mode'`` also skips version
            counting. Defaults to ``'no_grad'``.
        torch_compile (bool | dict): Compile the teacher's and every
            student's forward with ``torch.compile`` (``nn.Module.compile``,
            so parameter and checkpoint names are unchanged); a dict is
            passed to it as keyword arguments (e.g.
            ``dict(backend='inductor', mode='max-autotune')``). Defaults to
            False.
        data_preprocessor (dict | nn.Module, optional): The data
            preprocessor. Defaults to None (the first student's).
        peer_mode (str): ``'parallel'``: every student's forward graph is
            kept until the updates, so a step holds all students'
            activations at once (fastest). ``'sequential'``: each student
            after the first runs one extra forward without a graph for its
            peer logits (its BatchNorm statistics restored afterwards and
            its random numbers replayed), then the students are trained one
            after the other, so a step holds one student's graph at a time:
            less memory for one extra forward per extra student, with the
            same losses and updates. Needs one optimizer wrapper per
            student. Defaults to ``'parallel'``.
        activation_checkpoint (Dict[str, List[str]], optional): Per student
            name, submodule name patterns (``fnmatch``, e.g.
            ``['backbone.conv1', 'backbone.layer[1-3].*']``) whose
            activations are dropped after the forward and recomputed in the
            backward, with their BatchNorm running statistics kept (see
            :func:`~mmrazor_udskd.models.utils.checkpoint_submodules`):
            less memory for one more forward of those parts, the same
            losses, gradients and statistics. Each pattern must match.
            With ``peer_mode='parallel'`` the checkpointed students run
            their forwards first (the order of the updates is unchanged).
            Defaults to None (nothing recomputed).
        check_finite (bool): In :meth:`train_step`, stop with an error
            naming the model and the iteration when the teacher's or a
            student's logits or a student's loss are NaN/inf, before any
            weights are updated (costs one host sync per iteration and one
            per student). Defaults to True.
        teacher_precision (str, optional): Autocast of the teacher's
            forward in :meth:`train_step`: ``'fp32'``, ``'bf16'``,
            ``'fp16'`` (CUDA only) or ``'auto'`` (bf16 where the device has
            native bf16, else fp32; see
            :mod:`mmrazor_udskd.models.utils.precision`). The students'
            precision is their optimizer wrappers' (``AmpOptimWrapper``);
            the losses are computed in fp32 either way. Defaults to None:
            the first student's optimizer wrapper's context (AMP autocast
            when that wrapper is an ``AmpOptimWrapper``).
        init_cfg (dict, optional): Initialization config. Defaults to None.

    Every argument is validated before anything is built or loaded; errors
    name the config field (``model.tau``, ``model.students``,
    ``model.student_loss_weights.<name>.gamma``, ``model.teacher_ckpt``,
    ...). ``teacher_ckpt`` is loaded weights-only (local or URL) and must
    match the teacher's keys and shapes exactly.
    """

    def __init__(self,
                 teacher: Union[dict, nn.Module],
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
        check_student_names(list(students))
        tau = check_positive(tau, 'model.tau')
        defaults = {k: check_loss_weight(v, f'model.{k}') for k, v in
                    dict(alpha=alpha, beta=beta, gamma=gamma).items()}
        perf = self._check_performance_args(memory_format, teacher_grad_mode,
                                            torch_compile)
        if peer_mode not in _PEER_MODES:
            raise ValueError(f'`model.peer_mode` must be one of {_PEER_MODES}'
                             f', got {peer_mode!r}')
        if teacher_precision is not None:
            check_precision(teacher_precision, 'model.teacher_precision')
        built: Dict[str, nn.Module] = {
            name: self._build_model(cfg, f'students.{name}')
            for name, cfg in students.items()
        }
        if data_preprocessor is None:
            data_preprocessor = getattr(
                next(iter(built.values())), 'data_preprocessor', None)
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)

        # the teacher, frozen as in MMRazor's SingleTeacherDistill
        self.teacher = self._build_model(teacher, 'teacher')
        num_classes = {'teacher': head_num_classes(self.teacher)}
        num_classes.update({f'students.{name}': head_num_classes(student)
                            for name, student in built.items()})
        check_num_classes_agree(num_classes)
        if teacher_ckpt:
            # weights-only (local or URL), all keys and shapes must match
            load_state_dict_exactly(self.teacher, teacher_ckpt,
                                    'model.teacher_ckpt', what='the teacher')
            # keep the loaded weights when the runner calls init_weights()
            self.teacher._is_init = True
        for param in self.teacher.parameters():
            param.requires_grad = False
        self.teacher_norm_eval = teacher_norm_eval

        self.teacher_loss = self._build_loss(
            teacher_loss or dict(type='EntropyWeightedKDLoss',
                                 weighting='entropy'), tau,
            'model.teacher_loss')
        self.peer_loss = self._build_loss(
            peer_loss or dict(type='PeerKLLoss'), tau, 'model.peer_loss')
        self.tau = tau
        # speed options (set before the students, so that a student name
        # colliding with them is refused)
        self.memory_format, self.teacher_grad_mode, self.compile_kwargs = perf
        self.check_finite = bool(check_finite)
        self.teacher_precision = teacher_precision
        self.peer_mode = peer_mode
        self.val_teacher = val_teacher
        self.predict_with: Optional[str] = predict_with
        self.loss_weights: Dict[str, Dict[str, float]] = {}
        self.checkpointed: Dict[str, List[str]] = {}
        self.forward_order: List[str] = []

        # the students: top-level children named by their config keys (set
        # last, so that a name colliding with any attribute is caught)
        self.student_names: List[str] = []
        for name, student in built.items():
            self._check_student_name(name)
            self.add_module(name, student)
            self.student_names.append(name)

        self.checkpointed = self._apply_activation_checkpoint(
            activation_checkpoint)
        self.forward_order = sorted(
            self.student_names, key=lambda n: n not in self.checkpointed)
        self.loss_weights = self._resolve_loss_weights(
            defaults, student_loss_weights)
        check_trainable(self.loss_weights)

        if predict_with is None:
            predict_with = self.student_names[0]
        if predict_with not in self.student_names:
            raise ValueError(f'`predict_with`={predict_with!r} is not one of '
                             f'the students {self.student_names}')
        self.predict_with = predict_with
        # teacher norm layers in eval mode from the start, not only after the
        # runner's first model.train()
        self.train(self.training)
        # checkpoints hold `<name>.<key>` whether or not a student is wrapped
        # in its own DDP (MMSeparateDistributedDataParallel)
        self._register_state_dict_hook(self._unwrapped_student_keys)
        self._register_load_state_dict_pre_hook(
            self._load_wrapped_student_keys, with_module=True)
        self._apply_performance_options()

    # ------------------------------------------------------------------
    # construction helpers
    # ------------------------------------------------------------------
    @staticmethod
    def _build_model(cfg: Union[dict, nn.Module], what: str) -> nn.Module:
        """Build a model from a config, or pass a built one through.

        Args:
            cfg (dict | nn.Module): Model config or model.
            what (str): Its name, for error messages.

        Returns:
            nn.Module: The model.
        """
        if isinstance(cfg, dict):
            cfg = MODELS.build(cfg)
        if not isinstance(cfg, nn.Module):
            raise TypeError(f'`{what}` must be a config dict or an '
                            f'nn.Module, got {type(cfg).__name__}')
        return cfg

    @staticmethod
    def _build_loss(cfg: dict, tau: float, field: str) -> nn.Module:
        """Build a distillation loss, giving it ``tau`` if it takes one.

        Args:
            cfg (dict): Loss config (MMRazor ``MODELS``).
            tau (float): The algorithm's temperature.
            field (str): The config path of ``cfg``, for error messages.

        Returns:
            nn.Module: The loss module.

        Raises:
            ValueError: If the loss rejects its arguments (e.g. an unknown
                ``weighting``), naming ``field``.
        """
        cfg = dict(cfg)
        loss_cls = MODELS.get(cfg['type']) if isinstance(cfg['type'],
                                                         str) else cfg['type']
        if loss_cls is None:
            raise ValueError(f'`{field}.type`={cfg["type"]!r} is not a '
                             'registered loss')
        if 'tau' not in cfg:
            params = inspect.signature(loss_cls.__init__).parameters
            if 'tau' in params:
                cfg['tau'] = tau
        elif cfg['tau'] != tau:
            print_log(f'`{field}.tau`={cfg["tau"]} differs from '
                      f'`model.tau`={tau}; the loss uses its own', 'current',
                      level=30)
        try:
            return MODELS.build(cfg)
        except (ValueError, TypeError) as err:
            raise type(err)(f'`{field}`: {err}') from err

    @staticmethod
    def _check_performance_args(
        memory_format: str, teacher_grad_mode: str,
        torch_compile: Union[bool, dict]
    ) -> Tuple[torch.memory_format, str, Optional[dict]]:
        """Validate the speed options (they never change the math).

        Args:
            memory_format (str): ``model.memory_format``.
            teacher_grad_mode (str): ``model.teacher_grad_mode``.
            torch_compile (bool | dict): ``model.torch_compile``.

        Returns:
            Tuple[torch.memory_format, str, dict | None]: The torch memory
            format, the teacher grad mode and the ``torch.compile`` keyword
            arguments (None: no compilation).

        Raises:
            ValueError: For an unknown value, naming the config field.
        """
        if memory_format not in _MEMORY_FORMATS:
            raise ValueError(f'`model.memory_format` must be one of '
                             f'{tuple(_MEMORY_FORMATS)}, got '
                             f'{memory_format!r}')
        if teacher_grad_mode not in _TEACHER_GRAD_MODES:
            raise ValueError(f'`model.teacher_grad_mode` must be one of '
                             f'{_TEACHER_GRAD_MODES}, got '
                             f'{teacher_grad_mode!r}')
        if isinstance(torch_compile, bool):
            compile_kwargs = {} if torch_compile else None
        elif isinstance(torch_compile, dict):
            compile_kwargs = dict(torch_compile)
        else:
            raise ValueError('`model.torch_compile` must be a bool or a dict '
                             'of torch.compile keyword arguments, got '
                             f'{type(torch_compile).__name__}')
        return _MEMORY_FORMATS[memory_format], teacher_grad_mode, \
            compile_kwargs

    def _apply_performance_options(self) -> None:
        """Put the teacher and the students in :attr:`memory_format` and
        compile their forwards when :attr:`compile_kwargs` is not None."""
        memory_format, compile_kwargs = self.memory_format, self.compile_kwargs
        nets = [self.teacher] + [self._modules[n] for n in self.student_names]
        if memory_format is torch.channels_last:
            for net in nets:
                # converts 4-D parameters and buffers in place of the module;
                # init_weights() and load_state_dict() write into them and
                # keep the layout
                net.to(memory_format=torch.channels_last)
        if compile_kwargs is not None:
            for net in nets:
                # compiles __call__; state_dict keys stay unchanged
                net.compile(**compile_kwargs)

    def _apply_activation_checkpoint(
        self, spec: Optional[Dict[str, List[str]]]
    ) -> Dict[str, List[str]]:
        """Checkpoint the students' submodules named in ``spec``.

        Args:
            spec (Dict[str, List[str]], optional):
                ``model.activation_checkpoint``.

        Returns:
            Dict[str, List[str]]: Per student, the checkpointed submodules.

        Raises:
            ValueError: For an unknown student name or a pattern that
                matches nothing, naming the config field.
        """
        if not spec:
            return {}
        if not isinstance(spec, dict):
            raise ValueError('`model.activation_checkpoint` must be a dict of '
                             'submodule name patterns per student, got '
                             f'{type(spec).__name__}')
        done = {}
        for name, patterns in spec.items():
            if name not in self.student_names:
                raise ValueError(f'`model.activation_checkpoint.{name}`: no '
                                 f'student {name!r} (students: '
                                 f'{self.student_names})')
            try:
                done[name] = checkpoint_submodules(self._modules[name],
                                                   patterns)
            except ValueError as err:
                raise ValueError(
                    f'`model.activation_checkpoint.{name}`: {err}') from None
            print_log(f'activation checkpoint: student {name!r} recomputes '
                      f'{len(done[name])} submodules in the backward '
                      f'({done[name][0]} ... {done[name][-1]})',
                      logger='current')
        return done

    def _prepare_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """The preprocessed inputs in ``memory_format`` (a no-op when they
        already are, or are not 4-D).

        Args:
            inputs (Tensor): Preprocessed inputs.

        Returns:
            Tensor: The same data in the algorithm's memory format.
        """
        if self.memory_format is torch.channels_last and inputs.dim() == 4:
            return inputs.contiguous(memory_format=torch.channels_last)
        return inputs

    def _check_student_name(self, name: str) -> None:
        """Reject student names that cannot be child-module names.

        Args:
            name (str): A key of ``students``.

        Raises:
            ValueError: If ``name`` is not an identifier or collides with an
                attribute of the algorithm (``teacher``,
                ``data_preprocessor``, methods, ...).
        """
        if not isinstance(name, str) or not name.isidentifier() \
                or keyword.iskeyword(name):
            raise ValueError(f'student name {name!r} in `students` must be a '
                             'Python identifier')
        if name in self.student_names or hasattr(self, name):
            raise ValueError(
                f'student name {name!r} in `students` collides with an '
                'attribute of MultiStudentDistill (e.g. teacher, '
                'data_preprocessor, teacher_loss, peer_loss); rename it')

    def _resolve_loss_weights(
        self, defaults: Dict[str, float],
        overrides: Optional[Dict[str, dict]]
    ) -> Dict[str, Dict[str, float]]:
        """Per-student ``alpha``/``beta``/``gamma``.

        Args:
            defaults (Dict[str, float]): The algorithm-wide weights.
            overrides (Dict[str, dict], optional): ``student_loss_weights``.

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
            bad = set(own) - set(_WEIGHT_NAMES)
            if bad:
                raise ValueError(f'`student_loss_weights.{name}` may only set '
                                 f'{_WEIGHT_NAMES}, got {sorted(bad)}')
            weights[name] = {
                k: check_loss_weight(
                    own[k], f'model.student_loss_weights.{name}.{k}')
                if k in own else defaults[k]
                for k in _WEIGHT_NAMES
            }
        return weights

    # ------------------------------------------------------------------
    # accessors
    # ------------------------------------------------------------------
    @property
    def students(self) -> Dict[str, nn.Module]:
        """The students by name, unwrapped from any DDP wrapper."""
        return {name: self._unwrap(self._modules[name])
                for name in self.student_names}

    @staticmethod
    def _unwrap(module: nn.Module) -> nn.Module:
        """``module.module`` for a model wrapper (DDP), else ``module``."""
        return module.module if is_model_wrapper(module) else module

    def _strip_wrapper(self, state: dict, prefix: str) -> None:
        """Rename ``<prefix><name>.module.<key>`` to ``<prefix><name>.<key>``
        in place (order and ``_metadata`` kept)."""
        olds = [f'{prefix}{name}.module' for name in self.student_names]
        news = [f'{prefix}{name}' for name in self.student_names]

        def rename(key: str) -> str:
            for old, new in zip(olds, news):
                if key == old or key.startswith(old + '.'):
                    return new + key[len(old):]
            return key

        items = [(rename(k), v) for k, v in state.items()]
        if any(new != old for (new, _), old in zip(items, state)):
            state.clear()
            state.update(items)
        meta = getattr(state, '_metadata', None)
        if meta is not None and any(rename(k) != k for k in meta):
            renamed = [(rename(k), v) for k, v in meta.items()]
            meta.clear()
            meta.update(renamed)

    @staticmethod
    def _unwrapped_student_keys(module: 'MultiStudentDistill', state: dict,
                                prefix: str, local_metadata: dict) -> None:
        """``state_dict`` hook: drop the ``.module`` of DDP-wrapped students,
        so that a checkpoint of a distributed run has the keys of a
        single-process run. MMEngine's loader unwraps wrappers before it
        matches keys; with ``<name>.module.*`` keys a distributed
        ``--resume`` would silently load no student weights."""
        module._strip_wrapper(state, prefix)

    @staticmethod
    def _load_wrapped_student_keys(module: 'MultiStudentDistill', state: dict,
                                   prefix: str, *args) -> None:
        """``load_state_dict`` pre-hook: accept checkpoints written with
        ``<name>.module.*`` keys (by a distributed run before the fix)."""
        module._strip_wrapper(state, prefix)

    # ------------------------------------------------------------------
    # forward passes
    # ------------------------------------------------------------------
    def teacher_logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """One teacher forward without gradients (``teacher_grad_mode``).

        Args:
            inputs (Tensor): Preprocessed inputs.

        Returns:
            Tensor: Teacher logits, shape (B, C).
        """
        if self.teacher_grad_mode == 'inference_mode':
            with torch.inference_mode():
                logits = _logits_of(self.teacher(inputs, mode='tensor'))
            # (B, C) copy as a normal tensor: the losses save it for backward
            return logits.clone()
        with torch.no_grad():
            return _logits_of(self.teacher(inputs, mode='tensor')).detach()

    def student_logits(self, name: str, inputs: torch.Tensor) -> torch.Tensor:
        """One forward of student ``name`` through its top-level child (its
        DDP wrapper under distributed training, so gradients are synced).

        Args:
            name (str): Student name.
            inputs (Tensor): Preprocessed inputs.

        Returns:
            Tensor: Student logits, shape (B, C).
        """
        return _logits_of(self._modules[name](inputs, mode='tensor'))

    @staticmethod
    def _targets(data_samples: List[DataSample]) -> torch.Tensor:
        """Hard labels (B,) or, after batch augmentation, soft scores (B, C).

        Args:
            data_samples (List[DataSample]): Samples with ``gt_label`` or
                ``gt_score``.

        Returns:
            Tensor: The CE target.
        """
        if 'gt_score' in data_samples[0]:
            return torch.stack([s.gt_score for s in data_samples])
        return torch.cat([s.gt_label for s in data_samples])

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
            ``L_i``) and the teacher loss's statistics (empty if it has
            none, or if ``beta`` is 0).
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
                         if k in _STAT_NAMES}
        else:
            terms['loss_teacher'] = zero
        if weights['gamma']:
            peers = [p.float() for p in self.peer_targets(name, logits)]
            terms['loss_peer'] = weights['gamma'] * self.peer_loss(
                preds, peers)
        else:
            terms['loss_peer'] = zero
        return terms, stats

    def _forward_all(
            self, inputs: torch.Tensor
    ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """Teacher once, then every student once.

        Args:
            inputs (Tensor): Preprocessed inputs.

        Returns:
            Tuple[Tensor, Dict[str, Tensor]]: Teacher logits and each
            student's logits.
        """
        inputs = self._prepare_inputs(inputs)
        teacher_logits = self.teacher_logits(inputs)
        logits = {name: self.student_logits(name, inputs)
                  for name in self.student_names}
        return teacher_logits, logits

    def loss(self, inputs: torch.Tensor,
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """All students' weighted loss terms, for ``mode='loss'``.

        Summing the keys that contain ``loss`` (as ``parse_losses`` does)
        gives ``sum_i L_i``; the ``stats.*`` entries are detached.

        Args:
            inputs (Tensor): Preprocessed inputs.
            data_samples (List[DataSample]): Samples with labels.

        Returns:
            Dict[str, Tensor]: ``<name>.loss_ce``, ``<name>.loss_teacher``,
            ``<name>.loss_peer`` per student and ``stats.*``.
        """
        teacher_logits, logits = self._forward_all(inputs)
        targets = self._targets(data_samples)
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
                student name (``SeparateOptimWrapperConstructor``); a single
                wrapper updates all students with ``sum_i L_i``.

        Returns:
            Dict[str, Tensor]: Detached log values: per student
            ``<name>.loss_ce``, ``<name>.loss_teacher``, ``<name>.loss_peer``,
            ``<name>.loss`` and, from the teacher loss, ``stats.weight_mean``,
            ``stats.entropy_t1``, ``stats.entropy_tau``,
            ``stats.uncertain_ratio``; plus ``loss`` (sum over students).
        """
        data = self.data_preprocessor(data, True)
        inputs, data_samples = data['inputs'], data['data_samples']
        inputs = self._prepare_inputs(inputs)
        separate = isinstance(optim_wrapper, OptimWrapperDict)
        if separate:
            missing = set(self.student_names) - set(optim_wrapper.keys())
            if missing:
                raise KeyError(f'optim_wrapper has no wrapper for students '
                               f'{sorted(missing)}; give one per student '
                               'name with SeparateOptimWrapperConstructor')
            first = optim_wrapper[self.student_names[0]]
        else:
            first = optim_wrapper

        # teacher once, in `teacher_precision`; by default under the first
        # wrapper's context (AMP autocast when enabled; the teacher has no
        # no_sync, so nothing else changes)
        if self.teacher_precision is None:
            teacher_context = first.optim_context(self.teacher)
        else:
            teacher_context = precision_context(self.teacher_precision,
                                                inputs.device.type)
        with teacher_context:
            teacher_logits = self.teacher_logits(inputs)
        if self.peer_mode == 'sequential':
            if not separate:
                raise ValueError("`model.peer_mode`='sequential' needs one "
                                 'optimizer wrapper per student '
                                 '(SeparateOptimWrapperConstructor)')
            return self._sequential_step(inputs, data_samples,
                                         teacher_logits, optim_wrapper)
        # every student once, before any update, so peers see the same
        # batch; checkpointed students first, so that their forwards' brief
        # peaks do not come on top of another student's whole graph
        logits: Dict[str, torch.Tensor] = {}
        for name in self.forward_order:
            wrapper = optim_wrapper[name] if separate else optim_wrapper
            with wrapper.optim_context(self._modules[name]):
                logits[name] = self.student_logits(name, inputs)
        logits = {name: logits[name] for name in self.student_names}

        where = self._runner_position() if self.check_finite else {}
        if self.check_finite:  # one sync: stop before NaN reaches weights
            check_logits(dict(teacher=teacher_logits, **logits), **where)

        targets = self._targets(data_samples)
        log_vars: Dict[str, torch.Tensor] = {}
        stats: Dict[str, torch.Tensor] = {}
        total = []
        for name in self.student_names:
            loss_i, own_stats = self._student_loss(
                name, logits, teacher_logits, targets, where, log_vars)
            if separate:
                optim_wrapper[name].update_params(loss_i)
            total.append(loss_i)
            stats = stats or own_stats
        if not separate:
            optim_wrapper.update_params(sum(total))
        log_vars['loss'] = sum(t.detach() for t in total)
        log_vars.update({f'stats.{k}': v for k, v in stats.items()})
        return log_vars

    def _student_loss(self, name: str, logits: Dict[str, torch.Tensor],
                      teacher_logits: torch.Tensor, targets: torch.Tensor,
                      where: Dict[str, Optional[int]],
                      log_vars: Dict[str, torch.Tensor]
                      ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """``L_i`` of one student, checked and logged.

        Args:
            name (str): Student name.
            logits (Dict[str, Tensor]): Every student's logits (``name``'s
                with its graph).
            teacher_logits (Tensor): Teacher logits (no grad).
            targets (Tensor): Labels (B,) or soft scores (B, C).
            where (Dict[str, int | None]): Iteration and epoch for the
                finite-loss error (empty without ``check_finite``).
            log_vars (Dict[str, Tensor]): Gets ``<name>.loss_ce``,
                ``<name>.loss_teacher``, ``<name>.loss_peer`` and
                ``<name>.loss``.

        Returns:
            Tuple[Tensor, Dict[str, Tensor]]: ``L_i`` (with its graph) and
            the teacher loss's statistics (see :meth:`student_losses`).
        """
        terms, stats = self.student_losses(name, logits, teacher_logits,
                                           targets)
        loss_i = terms['loss_ce'] + terms['loss_teacher'] + terms['loss_peer']
        if self.check_finite:
            check_finite_losses({f'{name}.loss': loss_i}, **where)
        for key, value in terms.items():
            log_vars[f'{name}.{key}'] = value.detach()
        log_vars[f'{name}.loss'] = loss_i.detach()
        return loss_i, stats

    def _sequential_step(
            self, inputs: torch.Tensor, data_samples: List[DataSample],
            teacher_logits: torch.Tensor,
            optim_wrapper: OptimWrapperDict) -> Dict[str, torch.Tensor]:
        """``peer_mode='sequential'``: one student's graph alive at a time.

        The first student runs its forward with a graph; every other student
        runs one forward without a graph for its peer logits, with its
        BatchNorm running statistics restored afterwards and the random
        generator state saved; then the first student is updated, and each
        other student, the generator set back to its saved state, runs its
        forward again with a graph (the same logits, dropout masks and
        BatchNorm update as in ``'parallel'`` mode) and is updated. Every
        ``L_i`` sees its peers' logits under the pre-update weights, as in
        ``'parallel'`` mode.

        Args:
            inputs (Tensor): Preprocessed inputs (in the memory format).
            data_samples (List[DataSample]): Samples with labels.
            teacher_logits (Tensor): The teacher's logits of this batch.
            optim_wrapper (OptimWrapperDict): One wrapper per student.

        Returns:
            Dict[str, Tensor]: The same log values as :meth:`train_step`.
        """
        first, *others = self.student_names
        logits: Dict[str, torch.Tensor] = {}
        with optim_wrapper[first].optim_context(self._modules[first]):
            logits[first] = self.student_logits(first, inputs)
        rng: Dict[str, Tuple[torch.Tensor, ...]] = {}
        for name in others:
            rng[name] = _rng_state(inputs.device)
            with torch.no_grad(), kept_norm_stats(self._modules[name]), \
                    optim_wrapper[name].optim_context(self._modules[name]):
                logits[name] = self.student_logits(name, inputs)
        where = self._runner_position() if self.check_finite else {}
        if self.check_finite:
            check_logits(dict(teacher=teacher_logits, **logits), **where)

        targets = self._targets(data_samples)
        peers = {name: value.detach() for name, value in logits.items()}
        log_vars: Dict[str, torch.Tensor] = {}
        stats: Dict[str, torch.Tensor] = {}
        total = []
        for name in self.student_names:
            own = dict(peers)
            if name == first:
                own[name] = logits[name]
            else:
                _set_rng_state(inputs.device, rng[name])
                with optim_wrapper[name].optim_context(self._modules[name]):
                    own[name] = self.student_logits(name, inputs)
            loss_i, own_stats = self._student_loss(
                name, own, teacher_logits, targets, where, log_vars)
            optim_wrapper[name].update_params(loss_i)
            total.append(loss_i.detach())
            stats = stats or own_stats
        log_vars['loss'] = sum(total)
        log_vars.update({f'stats.{k}': v for k, v in stats.items()})
        return log_vars

    @staticmethod
    def _runner_position() -> Dict[str, Optional[int]]:
        """The 1-based training iteration and epoch, from the runner's
        ``MessageHub`` (None outside a runner), for error messages."""
        hub = MessageHub.get_current_instance()
        it, ep = hub.get_info('iter'), hub.get_info('epoch')
        return dict(iteration=None if it is None else int(it) + 1,
                    epoch=None if ep is None else int(ep) + 1)

    # ------------------------------------------------------------------
    # inference
    # ------------------------------------------------------------------
    @staticmethod
    def _to_predictions(
            scores: torch.Tensor,
            data_samples: Optional[List[DataSample]]) -> List[DataSample]:
        """Class probabilities to ``DataSample`` predictions.

        Mirrors mmpretrain's ``ClsHead._get_predictions`` (``pred_score`` =
        probabilities, ``pred_label`` = argmax) but writes to shallow copies,
        so several models can label the same batch.

        Args:
            scores (Tensor): Probabilities, shape (B, C).
            data_samples (List[DataSample], optional): Input samples (their
                labels and meta information are kept).

        Returns:
            List[DataSample]: One prediction per sample.
        """
        labels = scores.argmax(dim=1, keepdim=True).detach()
        out = []
        for i in range(scores.size(0)):
            sample = data_samples[i].clone() if data_samples else DataSample()
            sample.set_pred_score(scores[i]).set_pred_label(labels[i])
            out.append(sample)
        return out

    def predict_all(
        self,
        inputs: torch.Tensor,
        data_samples: Optional[List[DataSample]] = None
    ) -> Dict[str, List[DataSample]]:
        """Predictions of every student, their ensemble and the teacher.

        This is the protocol :class:`MultiModelValLoop` scores in one pass.

        Args:
            inputs (Tensor): Preprocessed inputs.
            data_samples (List[DataSample], optional): Input samples.

        Returns:
            Dict[str, List[DataSample]]: Keys: each student name, then
            ``ensemble`` (``pred_score`` = mean of the students' softmax
            probabilities), then ``teacher`` if ``val_teacher``.
        """
        inputs = self._prepare_inputs(inputs)
        probs = {name: F.softmax(self.student_logits(name, inputs).float(),
                                 dim=1)
                 for name in self.student_names}
        results = {name: self._to_predictions(p, data_samples)
                   for name, p in probs.items()}
        ensemble = torch.stack(list(probs.values())).mean(dim=0)
        results['ensemble'] = self._to_predictions(ensemble, data_samples)
        if self.val_teacher:
            teacher = F.softmax(self.teacher_logits(inputs).float(), dim=1)
            results['teacher'] = self._to_predictions(teacher, data_samples)
        return results

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'
                ) -> Union[Dict[str, torch.Tensor], List[DataSample],
                           torch.Tensor]:
        """Standard ``BaseModel`` forward.

        Args:
            inputs (Tensor): Preprocessed inputs.
            data_samples (List[DataSample], optional): Samples. Defaults to
                None.
            mode (str): ``'loss'`` (all students' loss terms, see
                :meth:`loss`), ``'predict'`` (predictions of
                ``predict_with``) or ``'tensor'`` (its logits). Defaults to
                ``'tensor'``.

        Returns:
            Dict[str, Tensor] | List[DataSample] | Tensor: By mode.
        """
        inputs = self._prepare_inputs(inputs)
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'tensor':
            return self.student_logits(self.predict_with, inputs)
        if mode == 'predict':
            logits = self.student_logits(self.predict_with, inputs)
            return self._to_predictions(F.softmax(logits.float(), dim=1),
                                        data_samples)
        raise RuntimeError(f'Invalid mode "{mode}"; use loss, predict or '
                           'tensor')

    def train(self, mode: bool = True) -> 'MultiStudentDistill':
        """Set train/eval mode; the teacher's norm layers stay in eval mode
        when ``teacher_norm_eval``.

        Args:
            mode (bool): Training mode. Defaults to True.

        Returns:
            MultiStudentDistill: self.
        """
        super().train(mode)
        if mode and self.teacher_norm_eval:
            for module in self.teacher.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self
