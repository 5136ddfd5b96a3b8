"""Building the benchmark's runs from configs: model and optimizer
wrapper(s) as the runner builds them, in a chosen precision and memory
format, and a batch held in memory."""
import functools
import os.path as osp
from typing import Callable, Dict, Optional, Tuple

import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmpretrain.structures import DataSample
from mmrazor.registry import MODELS
from torch import nn

from ..models.utils.precision import default_precision, precision_context
from ..utils.config import apply_precision_policy, enable_amp

__all__ = ['PRECISION_MODES', 'build_from_config', 'make_batch']

#: ``--precision`` settings: every model fp32, every model bf16, or each
#: model by the default policy (``mmrazor_udskd.models.utils.precision``)
PRECISION_MODES = ('fp32', 'bf16', 'policy')


def _amp_optim_cfg(cfg: Config, amp: str) -> None:
    """Switch every optimizer wrapper of ``cfg`` to AMP, as ``tools/train.py
    --amp`` does (``enable_amp``), with the autocast dtype set.

    Args:
        cfg (Config): The config, changed in place.
        amp (str): ``'fp16'`` or ``'bf16'``.
    """
    enable_amp(cfg, dtype=dict(fp16='float16', bf16='bfloat16')[amp])


def _to_channels_last(model: nn.Module) -> None:
    """Put a KD baseline (MMRazor's algorithm, which has no such option)
    in channels-last: its 4-D weights and its preprocessors' outputs.

    Args:
        model (nn.Module): A ``SingleTeacherDistill``.
    """
    model.to(memory_format=torch.channels_last)
    preprocessors = [model.data_preprocessor]
    teacher_pre = getattr(model.teacher, 'data_preprocessor', None)
    if teacher_pre is not None:
        preprocessors.append(teacher_pre)
    for pre in preprocessors:
        original = pre.forward

        def forward(data: dict, training: bool = False,
                    _original: Callable = original) -> dict:
            out = _original(data, training)
            out['inputs'] = out['inputs'].contiguous(
                memory_format=torch.channels_last)
            return out

        pre.forward = forward


def _teacher_in_precision(teacher: nn.Module, precision: str,
                          device_type: str) -> None:
    """Run a KD baseline's teacher forward in ``precision`` whatever the
    student's wrapper autocasts to (MMRazor's KD has one wrapper for both).

    Args:
        teacher (nn.Module): The teacher.
        precision (str): ``'fp32'`` or ``'bf16'``.
        device_type (str): ``'cpu'`` or ``'cuda'``.
    """
    original = teacher.forward

    @functools.wraps(original)
    def forward(*args, **kwargs):
        with precision_context(precision, device_type):
            return original(*args, **kwargs)

    teacher.forward = forward


def _apply_precision(cfg: Config, precision: str,
                     device_type: str) -> Dict[str, str]:
    """Set the config's per-model precision for ``--precision``.

    Args:
        cfg (Config): The config, changed in place.
        precision (str): One of :data:`PRECISION_MODES`.
        device_type (str): ``'cpu'`` or ``'cuda'``.

    Returns:
        Dict[str, str]: The precision of each model (``teacher`` and the
        student names; ``model`` for a KD baseline's student).
    """
    ours = cfg.model.get('type') == 'MultiStudentDistill'
    if precision == 'policy':
        chosen = apply_precision_policy(cfg, device_type)
        if not ours:
            chosen['teacher'] = default_precision('teacher', device_type)
        return chosen
    names = list(cfg.model.students) if ours else ['model']
    if precision == 'bf16':
        enable_amp(cfg, dtype='bfloat16')
    if ours:
        cfg.model.teacher_precision = precision
    return dict(teacher=precision, **{n: precision for n in names})


def build_from_config(
        path: str, device: torch.device, amp: str = 'none',
        channels_last: bool = False, compile_: bool = False,
        model_options: Optional[dict] = None, seed: int = 0,
        precision: str = 'fp32', root: str = '.'
) -> Tuple[nn.Module, OptimWrapper, Config]:
    """Build a config's model and its optimizer wrapper(s) as the runner
    does (the top-level ``data_preprocessor`` goes into the model).

    Args:
        path (str): Config path, relative to ``root`` or absolute.
        device (torch.device): Device for the model.
        amp (str): ``'none'``, ``'fp16'`` or ``'bf16'``: every wrapper AMP
            (the teacher as MMRazor's KD and ``--amp`` run it). Defaults to
            ``'none'``.
        channels_last (bool): Channels-last weights and inputs. For
            ``MultiStudentDistill`` through its ``memory_format`` kwarg.
        compile_ (bool): ``torch.compile`` the networks. For
            ``MultiStudentDistill`` through its ``torch_compile`` kwarg.
        model_options (dict, optional): Extra ``model`` fields (only for
            ``MultiStudentDistill``). Defaults to None.
        seed (int): Seed for the weight initialisation. Defaults to 0.
        precision (str): One of :data:`PRECISION_MODES`; ``'fp32'`` changes
            nothing. The result is stored as ``cfg.benchmark_precisions``.
            Defaults to ``'fp32'``.
        root (str): Directory that relative config paths start from.
            Defaults to ``'.'``.

    Returns:
        Tuple[nn.Module, OptimWrapper | OptimWrapperDict, Config]: The model
        (train mode, on ``device``), its optimizer wrapper(s), the config.
    """
    if precision not in PRECISION_MODES:
        raise ValueError(f'precision must be one of {PRECISION_MODES}, got '
                         f'{precision!r}')
    if precision != 'fp32' and amp != 'none':
        raise ValueError('use either amp or precision, not both')
    cfg = Config.fromfile(path if osp.isabs(path) else osp.join(root, path))
    model_cfg = cfg.model
    # speed does not depend on the teacher's weights: a random teacher on
    # purpose unless a checkpoint is given
    if model_cfg.get('teacher') is not None:
        model_cfg['teacher_ckpt'] = model_cfg.get('teacher_ckpt') or 'random'
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    ours = model_cfg.get('type') == 'MultiStudentDistill'
    if ours:
        if channels_last:
            model_cfg['memory_format'] = 'channels_last'
        if compile_:
            model_cfg['torch_compile'] = True
        # dotted keys reach nested fields, as --cfg-options does, e.g.
        # students.mbv2.backbone.with_cp=True
        cfg.merge_from_dict({f'model.{k}': v
                             for k, v in (model_options or {}).items()})
    if amp == 'none':
        chosen = _apply_precision(cfg, precision, device.type)
    else:  # every wrapper AMP below; the teacher follows it
        names = list(cfg.model.students) if ours else ['model']
        chosen = {n: amp for n in ['teacher'] + names}
    cfg.benchmark_precisions = chosen
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.to(device)
    if not ours:
        if channels_last:
            _to_channels_last(model)
        if compile_:
            model.architecture.compile()
            model.teacher.compile()
        if precision == 'policy':
            _teacher_in_precision(model.teacher, chosen['teacher'],
                                  device.type)
    model.train()
    if amp != 'none':
        _amp_optim_cfg(cfg, amp)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    return model, optim_wrapper, cfg


def make_batch(batch_size: int, resolution: int, num_classes: int,
               seed: int = 0) -> dict:
    """A dataloader-style batch: uint8 images and labelled samples.

    Args:
        batch_size (int): Images in the batch.
        resolution (int): Height and width.
        num_classes (int): Labels are drawn from ``range(num_classes)``.
        seed (int): Random seed. Defaults to 0.

    Returns:
        dict: ``inputs`` (list of ``(3, H, W)`` uint8 tensors) and
        ``data_samples`` (``DataSample`` with ``gt_label``).
    """
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, num_classes, (batch_size, ), generator=gen)
    return dict(
        inputs=[torch.randint(0, 256, (3, resolution, resolution),
                              dtype=torch.uint8, generator=gen)
                for _ in range(batch_size)],
        data_samples=[DataSample().set_gt_label(int(y)) for y in labels])
