"""Compatibility patches for MMRazor 1.0.0 / MMPretrain 1.2 / MMEngine 0.10 on
today's PyTorch (>= 2.6), NumPy 2 and machines without a GPU.

Every patch lives here and nowhere else (the MMEngine config-scope and AMP
patches in :mod:`mmrazor_udskd.compat_mmengine`, listed and applied here). Each one

* states the breakage it fixes (``reason``),
* checks that the breakage is really present before touching anything
  (``is_needed``), so a fixed upstream release passes through untouched,
* is applied once, by ``import mmrazor_udskd``, before anything imports
  ``mmrazor.models``,
* can be switched off for a test with the environment variable
  ``MMRAZOR_UDSKD_DISABLE_PATCHES=name1,name2`` so that the test can show the
  original error.

``applied_patches()`` tells which patches ran in this process.
"""
import importlib
import inspect
import io
import os
import sys
import types
import warnings
from dataclasses import dataclass
from typing import Callable, Dict, List

__all__ = [
    'Patch', 'PATCHES', 'apply_all', 'applied_patches', 'disabled_patches',
    'RUNNER_CHECKPOINT_SAFE_GLOBALS'
]

DISABLE_ENV = 'MMRAZOR_UDSKD_DISABLE_PATCHES'


@dataclass
class Patch:
    """One guarded compatibility patch.

    Args:
        name (str): Short identifier, used in ``MMRAZOR_UDSKD_DISABLE_PATCHES``.
        reason (str): One line: the error the unpatched stack raises.
        is_needed (Callable[[], bool]): Returns True when the breakage is
            present in the installed packages.
        apply (Callable[[], None]): Applies the fix.
    """
    name: str
    reason: str
    is_needed: Callable[[], bool]
    apply: Callable[[], None]


_APPLIED: List[str] = []


def disabled_patches() -> List[str]:
    """Names listed in ``MMRAZOR_UDSKD_DISABLE_PATCHES`` (for tests)."""
    value = os.environ.get(DISABLE_ENV, '')
    return [v.strip() for v in value.split(',') if v.strip()]


def applied_patches() -> List[str]:
    """Names of the patches applied in this process, in order."""
    return list(_APPLIED)


# ---------------------------------------------------------------------------
# 1. MMRazor's quantization backend configs break ``import mmrazor.models``.
# ---------------------------------------------------------------------------
_BACKEND_CONFIG = 'mmrazor.structures.quantization.backend_config'
_BACKEND_NAMES = ('academic', 'native', 'tensorrt', 'openvino')


def _quant_backend_needed() -> bool:
    if _BACKEND_CONFIG in sys.modules:
        return False
    try:
        importlib.import_module(_BACKEND_CONFIG)
    except Exception:  # noqa: BLE001 - any failure means the stub is needed
        for key in list(sys.modules):
            if key.startswith('mmrazor.structures'):
                del sys.modules[key]
        return True
    return False


def _unavailable_backend(name: str) -> Callable:

    def _raise(*args, **kwargs):
        import torch
        raise RuntimeError(
            f'MMRazor 1.0.0 quantization backend "{name}" cannot be built on '
            f'torch {torch.__version__}: it relies on torch.ao internals that '
            'were removed. mmrazor_udskd replaced it with a stub so that '
            'distillation imports; quantization is not supported.')

    _raise.__name__ = f'get_{name}_backend_config'
    return _raise


def _quant_backend_apply() -> None:
    stub = types.ModuleType(_BACKEND_CONFIG)
    stub.__doc__ = ('Stand-in installed by mmrazor_udskd.compat: MMRazor 1.0.0 '
                    'builds its quantization backend configs at import time '
                    'with torch internals that torch >= 2 removed.')
    stub.__path__ = []  # a package, so submodule imports fail cleanly
    stub.BackendConfigs = {name: None for name in _BACKEND_NAMES}
    exported = ['BackendConfigs']
    for name in _BACKEND_NAMES:
        for suffix in ('', '_dict'):
            attr = f'get_{name}_backend_config{suffix}'
            setattr(stub, attr, _unavailable_backend(name))
            exported.append(attr)
    stub.__all__ = exported
    sys.modules[_BACKEND_CONFIG] = stub


# ---------------------------------------------------------------------------
# 2. KDSoftCELoss looks for mmcls's soft_cross_entropy.
# ---------------------------------------------------------------------------
def _kd_soft_ce_module() -> types.ModuleType:
    return importlib.import_module('mmrazor.models.losses.kd_soft_ce_loss')


def _kd_soft_ce_needed() -> bool:
    fn = getattr(_kd_soft_ce_module(), 'soft_cross_entropy', None)
    return fn is None or getattr(fn, '__name__', '') == 'PlaceHolder'


def _kd_soft_ce_apply() -> None:
    from mmpretrain.models.losses.cross_entropy_loss import soft_cross_entropy
    _kd_soft_ce_module().soft_cross_entropy = soft_cross_entropy


# ---------------------------------------------------------------------------
# 3. torch >= 2.6 loads weights-only; runner checkpoints hold mmengine and
#    numpy objects. Allow exactly those classes; weights-only stays on.
# ---------------------------------------------------------------------------
def _numpy_safe_globals() -> list:
    import numpy as np
    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct, scalar
    globs = [np.ndarray, np.dtype, _reconstruct, scalar]
    dtypes_mod = getattr(np, 'dtypes', None)
    if dtypes_mod is not None:
        globs += [
            getattr(dtypes_mod, n) for n in dir(dtypes_mod)
            if n.endswith('DType')
        ]
    return globs


def RUNNER_CHECKPOINT_SAFE_GLOBALS() -> list:  # noqa: N802
    """The allow-list of classes that MMEngine runner checkpoints contain."""
    from mmengine.logging.history_buffer import HistoryBuffer
    return [HistoryBuffer] + _numpy_safe_globals()


def _weights_only_needed() -> bool:
    import torch
    if not hasattr(torch.serialization, 'add_safe_globals'):
        return False
    from mmengine.logging.history_buffer import HistoryBuffer
    buf = io.BytesIO()
    torch.save({'hb': HistoryBuffer([1.0], [1])}, buf)
    buf.seek(0)
    try:
        torch.load(buf)  # the default, as mmengine calls it
    except Exception:  # noqa: BLE001 - UnpicklingError on torch >= 2.6
        return True
    return False


def _history_buffer_getstate(self) -> dict:
    """HistoryBuffer state without its statistics functions.

    mmengine pickles the ``_statistics_methods`` dict, i.e. functions, which
    needs ``builtins.getattr`` at load time; allowing that global would let a
    checkpoint call anything. The methods are class-level (``min``, ``max``,
    ``mean``, ``current`` and those added by ``register_statistics``), so
    ``__setstate__`` restores them without the pickle carrying them.
    """
    state = dict(self.__dict__)
    state.pop('statistics_methods', None)
    return state


def _weights_only_apply() -> None:
    import torch
    from mmengine.logging.history_buffer import HistoryBuffer
    HistoryBuffer.__getstate__ = _history_buffer_getstate
    torch.serialization.add_safe_globals(RUNNER_CHECKPOINT_SAFE_GLOBALS())


# ---------------------------------------------------------------------------
# 4. init_dist calls torch.cuda.set_device on a machine without a GPU.
# ---------------------------------------------------------------------------
def _init_dist_needed() -> bool:
    import torch
    from mmengine.dist import utils as dist_utils
    if torch.cuda.is_available():
        return False
    src = inspect.getsource(dist_utils._init_dist_pytorch)
    return 'torch.cuda.set_device' in src and 'is_available' not in src


def _init_dist_apply() -> None:
    import torch
    import torch.distributed as torch_dist
    from mmengine.dist import utils as dist_utils
    original = dist_utils._init_dist_pytorch

    def _init_dist_pytorch(backend: str, init_backend: str = 'torch',
                           **kwargs) -> None:
        if torch.cuda.is_available() or init_backend != 'torch':
            return original(backend, init_backend=init_backend, **kwargs)
        if backend == 'nccl':
            warnings.warn('No GPU: using the gloo backend instead of nccl.')
            backend = 'gloo'
        torch_dist.init_process_group(backend=backend, **kwargs)

    _init_dist_pytorch.__wrapped__ = original
    dist_utils._init_dist_pytorch = _init_dist_pytorch


# ---------------------------------------------------------------------------
# 5. The runner's DDP wrapper passes device_ids=[local_rank] for CPU modules.
# ---------------------------------------------------------------------------
def _ddp_needed() -> bool:
    import torch
    return not torch.cuda.is_available()


def _ddp_apply() -> None:
    from mmengine.model.wrappers import MMDistributedDataParallel
    original = MMDistributedDataParallel.__init__

    def __init__(self, module, detect_anomalous_params: bool = False,
                 **kwargs) -> None:
        on_cpu = all(p.device.type == 'cpu' for p in module.parameters())
        if on_cpu:
            kwargs['device_ids'] = None
            kwargs['output_device'] = None
        original(self, module, detect_anomalous_params, **kwargs)

    __init__.__wrapped__ = original
    MMDistributedDataParallel.__init__ = __init__


# ---------------------------------------------------------------------------
# 6. MMEngine downloads http(s) checkpoints with weights_only=False.
# ---------------------------------------------------------------------------
def _http_weights_only_needed() -> bool:
    from mmengine.runner import checkpoint as ckpt_mod
    load_url = getattr(ckpt_mod, 'load_url', None)
    if load_url is None or getattr(load_url, 'forces_weights_only', False):
        return False
    try:
        param = inspect.signature(load_url).parameters.get('weights_only')
    except (TypeError, ValueError):
        return False
    return param is not None and param.default is not True


def _http_weights_only_apply() -> None:
    import functools

    from mmengine.runner import checkpoint as ckpt_mod
    original = ckpt_mod.load_url

    @functools.wraps(original)
    def load_url(*args, **kwargs):
        kwargs['weights_only'] = True
        return original(*args, **kwargs)

    load_url.forces_weights_only = True
    ckpt_mod.load_url = load_url


from .compat_mmengine import (SCOPE, _amp_cpu_apply,  # noqa: E402,F401
                              _amp_cpu_needed, _config_scope_apply,
                              _config_scope_needed, _fromfile_scope_apply,
                              _fromfile_scope_needed)


PATCHES: List[Patch] = [
    Patch('quant_backend_config',
          'mmrazor.structures.quantization.backend_config builds backend '
          'configs at import time with torch.ao helpers removed in torch 2 '
          '("ImportError: `torch>=1.13` is not installed properly")',
          _quant_backend_needed, _quant_backend_apply),
    Patch('kd_soft_ce',
          'KDSoftCELoss imports soft_cross_entropy from the dead mmcls and '
          'gets a placeholder ("PlaceHolder.__init__() got an unexpected '
          "keyword argument 'reduction'\"); mmpretrain has the same function",
          _kd_soft_ce_needed, _kd_soft_ce_apply),
    Patch('weights_only_allowlist',
          'torch>=2.6 loads weights-only and mmengine runner checkpoints hold '
          'HistoryBuffer/numpy objects ("Unsupported global: GLOBAL '
          'mmengine.logging.history_buffer.HistoryBuffer"); pickle '
          'HistoryBuffer without functions and allow exactly those data '
          'classes instead of disabling weights-only',
          _weights_only_needed, _weights_only_apply),
    Patch('init_dist_cpu',
          "mmengine's init_dist calls torch.cuda.set_device without a GPU "
          '("Found no NVIDIA driver"); skip it and use gloo on CPU',
          _init_dist_needed, _init_dist_apply),
    Patch('ddp_cpu_device_ids',
          'the runner wraps CPU models with device_ids=[local_rank], which '
          'DistributedDataParallel rejects for CPU modules',
          _ddp_needed, _ddp_apply),
    Patch('http_weights_only',
          "mmengine's http(s)/openmmlab:// checkpoint loader calls "
          'torch.hub.load_state_dict_from_url(weights_only=False), so a '
          'downloaded checkpoint (load_from=URL, pretrained=URL) can run code',
          _http_weights_only_needed, _http_weights_only_apply),
    Patch('config_scope',
          "mmengine knows no 'mmrazor_udskd' scope (\"AssertionError: "
          'mmengine does not support to load mmrazor_udskd config") and '
          "looks for an editable install's configs in site-packages",
          _config_scope_needed, _config_scope_apply),
    Patch('fromfile_scope',
          "Config.fromfile('mmrazor_udskd::udskd/x.py') raises "
          'FileNotFoundError: mmengine resolves pkg:: only in _base_',
          _fromfile_scope_needed, _fromfile_scope_apply),
    Patch('amp_cpu_bf16',
          "mmengine's AmpOptimWrapper asserts a GPU (\"``AmpOptimizerWrapper`` "
          'is only available training on gpu, npu, mlu or musa"), so --amp '
          'dies on a CPU; there it autocasts to bfloat16 without loss '
          'scaling',
          _amp_cpu_needed, _amp_cpu_apply),
]


def apply_all() -> Dict[str, bool]:
    """Apply every needed patch once, in order.

    Returns:
        Dict[str, bool]: For each patch name, whether it was applied now or
        earlier in this process.
    """
    disabled = set(disabled_patches())
    result: Dict[str, bool] = {}
    for patch in PATCHES:
        if patch.name in _APPLIED:
            result[patch.name] = True
            continue
        if patch.name in disabled or not patch.is_needed():
            result[patch.name] = False
            continue
        patch.apply()
        _APPLIED.append(patch.name)
        result[patch.name] = True
    return result
