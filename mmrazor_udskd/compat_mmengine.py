"""The compatibility patches of MMEngine's config scope and AMP wrapper.

Part of :mod:`mmrazor_udskd.compat`, which lists, guards and applies them
(see its docstring for the rules every patch follows); kept apart only to
keep each file short.
"""
import inspect
import os
import sys
import warnings


__all__ = [
    'SCOPE', '_config_scope_needed', '_config_scope_apply',
    '_fromfile_scope_needed', '_fromfile_scope_apply', '_amp_cpu_needed',
    '_amp_cpu_apply'
]


# ---------------------------------------------------------------------------
# 7. mmengine resolves ``pkg::`` config paths only for the packages in its
#    MODULE2PACKAGE table, and finds a package through its distribution's
#    location, which for an editable install is site-packages, not the code.
# ---------------------------------------------------------------------------
SCOPE = 'mmrazor_udskd'


def _package_dir() -> str:
    """The imported package's folder; its ``.mim/configs`` are the configs."""
    return os.path.dirname(os.path.abspath(sys.modules[SCOPE].__file__))


def _config_scope_needed() -> bool:
    from mmengine.config import utils as cfg_utils
    return SCOPE not in cfg_utils.MODULE2PACKAGE


def _config_scope_apply() -> None:
    from mmengine.config import config as cfg_mod
    from mmengine.config import utils as cfg_utils
    from mmengine.hub import hub as hub_mod
    cfg_utils.MODULE2PACKAGE[SCOPE] = SCOPE
    for mod in (cfg_mod, hub_mod):
        original = mod.get_installed_path

        def get_installed_path(package: str, _orig=original) -> str:
            # the configs of the package this process imported, wherever pip
            # put its metadata (editable, non-editable, a clone on sys.path)
            return _package_dir() if package == SCOPE else _orig(package)

        get_installed_path.__wrapped__ = original
        mod.get_installed_path = get_installed_path


# ---------------------------------------------------------------------------
# 8. Config.fromfile('pkg::x.py') fails: mmengine resolves pkg:: in _base_.
# ---------------------------------------------------------------------------
def _fromfile_scope_needed() -> bool:
    from mmengine.config import Config
    return '::' not in inspect.getsource(Config.fromfile)


def _fromfile_scope_apply() -> None:
    from mmengine.config import Config
    original = Config.fromfile

    def fromfile(filename, *args, **kwargs) -> 'Config':
        filename = str(filename)
        if '::' in filename and not os.path.isfile(filename):
            filename = Config._get_cfg_path(filename, '')[0]
        return original(filename, *args, **kwargs)

    fromfile.__doc__, fromfile.__wrapped__ = original.__doc__, original
    Config.fromfile = staticmethod(fromfile)


# ---------------------------------------------------------------------------
# 9. AmpOptimWrapper asserts a GPU/NPU/MLU/MUSA, so ``--amp`` dies on a CPU.
# ---------------------------------------------------------------------------
def _no_accelerator() -> bool:
    from mmengine.device import get_device
    return get_device() == 'cpu'


def _amp_cpu_needed() -> bool:
    from mmengine.optim.optimizer import amp_optimizer_wrapper as amp_mod
    init = amp_mod.AmpOptimWrapper.__init__
    if not _no_accelerator() or getattr(init, 'cpu_bf16', False):
        return False
    try:
        src = inspect.getsource(init)
    except (OSError, TypeError):
        return False
    return 'is only available training' in src


def _cpu_amp_init(self, loss_scale='dynamic', dtype=None,
                  use_fsdp: bool = False, **kwargs) -> None:
    """``AmpOptimWrapper.__init__`` on the CPU: bfloat16 autocast (fp32's
    exponent range), so a disabled ``GradScaler`` and no loss scaling."""
    import torch
    from mmengine.optim import OptimWrapper
    if use_fsdp:
        raise ValueError('AmpOptimWrapper(use_fsdp=True) needs a GPU')
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype, dtype)
    if dtype not in (None, torch.bfloat16):
        raise ValueError('AmpOptimWrapper on the CPU autocasts to bfloat16 '
                         f'only, got dtype={dtype!r}')
    OptimWrapper.__init__(self, **kwargs)
    self._scale_update_param = None
    self.loss_scaler = torch.amp.GradScaler('cpu', enabled=False)
    self.cast_dtype = torch.bfloat16
    from mmrazor_udskd.models.utils.precision import native_bf16_available
    if not native_bf16_available('cpu'):
        warnings.warn(
            'AmpOptimWrapper on a CPU without AMX or AVX512-BF16: bfloat16 '
            'is emulated there and usually several times slower than fp32')


def _amp_cpu_apply() -> None:
    from mmengine.optim.optimizer import amp_optimizer_wrapper as amp_mod
    cls = amp_mod.AmpOptimWrapper
    original = cls.__init__

    def __init__(self, *args, **kwargs) -> None:
        if _no_accelerator():
            return _cpu_amp_init(self, *args, **kwargs)
        return original(self, *args, **kwargs)

    __init__.__wrapped__ = original
    __init__.cpu_bf16 = True
    cls.__init__ = __init__
