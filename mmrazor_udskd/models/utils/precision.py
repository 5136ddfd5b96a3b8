"""Numeric precision per model: autocast contexts and the default policy.

A model's forward runs in ``'fp32'``, ``'bf16'`` or ``'fp16'`` (CUDA only)
autocast, or ``'auto'``: the default policy below. Loss terms are always
computed in fp32 (the algorithms cast logits up before softmax, entropy and
KL), so only the networks' forwards and backwards change precision.

Default policy (``'auto'``), from the CPU train-step measurements in
``docs/benchmark.md``:

* on a device without native bf16 arithmetic (a CPU without AMX or
  AVX512-BF16, a GPU for which ``torch.cuda.is_bf16_supported()`` is False)
  every model runs in fp32: bf16 is then emulated and several times slower;
* with native bf16, the teacher and ResNet students run in bf16;
  MobileNetV2 students stay in fp32 (their depthwise convolutions gain
  little or lose in bf16), as does any other architecture.
"""
import contextlib
from typing import ContextManager, Dict, Optional, Union

import torch
from torch import nn

__all__ = [
    'PRECISIONS', 'check_precision', 'native_bf16_available',
    'model_family', 'default_precision', 'resolve_precision',
    'autocast_dtype', 'precision_context'
]

#: accepted precision names
PRECISIONS = ('fp32', 'bf16', 'fp16', 'auto')

#: backbone class-name prefixes -> family used by the default policy
_FAMILIES = (('mobilenetv2', 'mobilenet_v2'), ('resnet', 'resnet'))

_DTYPES: Dict[str, torch.dtype] = dict(bf16=torch.bfloat16,
                                       fp16=torch.float16)


def check_precision(value: str, field: str) -> str:
    """Validate a precision name.

    Args:
        value (str): One of :data:`PRECISIONS`.
        field (str): Config field named in the error, e.g.
            ``'model.teacher_precision'``.

    Returns:
        str: ``value``.

    Raises:
        ValueError: If ``value`` is not a known precision.
    """
    if not isinstance(value, str) or value not in PRECISIONS:
        raise ValueError(f'`{field}` must be one of {PRECISIONS}, got '
                         f'{value!r}')
    return value


def _cpu_feature(name: str) -> bool:
    """One of torch's CPU feature probes (False where torch lacks it).

    Args:
        name (str): Probe name in ``torch.cpu``, e.g.
            ``'_is_amx_tile_supported'``.

    Returns:
        bool: The probe's answer.
    """
    probe = getattr(torch.cpu, name, None)
    return bool(probe()) if callable(probe) else False


def native_bf16_available(device_type: str) -> bool:
    """Whether the device computes bf16 in hardware (so bf16 can pay).

    Args:
        device_type (str): ``'cpu'`` or ``'cuda'``.

    Returns:
        bool: CUDA: ``torch.cuda.is_bf16_supported()``. CPU: AMX tiles or
        AVX512-BF16 (``torch.cpu`` feature probes). False otherwise.
    """
    if device_type == 'cuda':
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device_type == 'cpu':
        return (_cpu_feature('_is_amx_tile_supported')
                or _cpu_feature('_is_avx512_bf16_supported'))
    return False


def model_family(model: Union[nn.Module, dict, None]) -> str:
    """The family the default policy knows a model by.

    Args:
        model (nn.Module | dict | None): A built classifier (its
            ``backbone`` is looked at when it has one), a model config with
            a ``backbone`` dict, or None.

    Returns:
        str: ``'resnet'``, ``'mobilenet_v2'`` or ``'other'``.
    """
    if isinstance(model, dict):
        backbone = model.get('backbone', model)
        name = backbone.get('type', '') if isinstance(backbone, dict) else ''
    elif isinstance(model, nn.Module):
        name = type(getattr(model, 'backbone', model)).__name__
    else:
        name = ''
    name = str(name).split('.')[-1].lower().replace('_', '')
    for prefix, family in _FAMILIES:
        if name.startswith(prefix):
            return family
    return 'other'


def default_precision(role: str, device_type: str,
                      family: str = 'other') -> str:
    """The default policy's precision for one model.

    Args:
        role (str): ``'teacher'`` or ``'student'``.
        device_type (str): ``'cpu'`` or ``'cuda'``.
        family (str): The student's :func:`model_family`. Defaults to
            ``'other'``.

    Returns:
        str: ``'bf16'`` or ``'fp32'``.
    """
    if not native_bf16_available(device_type):
        return 'fp32'
    if role == 'teacher' or family == 'resnet':
        return 'bf16'
    return 'fp32'


def resolve_precision(precision: str, device_type: str,
                      role: str = 'teacher', family: str = 'other') -> str:
    """``precision`` with ``'auto'`` replaced by the default policy.

    Args:
        precision (str): One of :data:`PRECISIONS`.
        device_type (str): ``'cpu'`` or ``'cuda'``.
        role (str): ``'teacher'`` or ``'student'``. Defaults to
            ``'teacher'``.
        family (str): See :func:`default_precision`. Defaults to
            ``'other'``.

    Returns:
        str: ``'fp32'``, ``'bf16'`` or ``'fp16'``.
    """
    check_precision(precision, 'precision')
    if precision == 'auto':
        return default_precision(role, device_type, family)
    return precision


def autocast_dtype(precision: str) -> Optional[torch.dtype]:
    """The autocast dtype of a resolved precision (None for fp32).

    Args:
        precision (str): ``'fp32'``, ``'bf16'`` or ``'fp16'``.

    Returns:
        torch.dtype | None: ``torch.bfloat16``, ``torch.float16`` or None.
    """
    return _DTYPES.get(precision)


def precision_context(precision: str, device_type: str,
                      role: str = 'teacher',
                      family: str = 'other') -> ContextManager:
    """Autocast context for one model's forward.

    ``'fp32'`` disables autocast (also inside an enclosing autocast region),
    ``'bf16'``/``'fp16'`` enable it with that dtype, ``'auto'`` applies
    :func:`default_precision`.

    Args:
        precision (str): One of :data:`PRECISIONS`.
        device_type (str): ``'cpu'`` or ``'cuda'``.
        role (str): For ``'auto'``: ``'teacher'`` or ``'student'``.
            Defaults to ``'teacher'``.
        family (str): For ``'auto'``: see :func:`default_precision`.
            Defaults to ``'other'``.

    Returns:
        ContextManager: The context.

    Raises:
        ValueError: For ``'fp16'`` on a CPU (CPU autocast training is bf16).
    """
    resolved = resolve_precision(precision, device_type, role, family)
    dtype = autocast_dtype(resolved)
    if resolved == 'fp16' and device_type != 'cuda':
        raise ValueError(f"precision 'fp16' needs a CUDA device, got "
                         f"{device_type!r}; use 'bf16' on the CPU")
    if not torch.amp.is_autocast_available(device_type):
        if dtype is None:
            return contextlib.nullcontext()
        raise ValueError(f'no autocast for device type {device_type!r}')
    if dtype is None:
        return torch.autocast(device_type=device_type, enabled=False)
    return torch.autocast(device_type=device_type, dtype=dtype)
