"""Model wrappers (DDP): unwrap a module, and keep checkpoint keys free of
the wrappers' ``.module``."""
import functools
from typing import Dict, Sequence

from mmengine.model import is_model_wrapper
from torch import nn

__all__ = [
    'unwrap_model', 'strip_wrapper_keys', 'register_wrapper_key_hooks'
]


def unwrap_model(module: nn.Module) -> nn.Module:
    """``module.module`` for a model wrapper (DDP), else ``module``.

    Args:
        module (nn.Module): A model, wrapped or not.

    Returns:
        nn.Module: The model inside the wrapper.
    """
    return module.module if is_model_wrapper(module) else module


def strip_wrapper_keys(state: Dict, prefix: str,
                       names: Sequence[str]) -> None:
    """Rename ``<prefix><name>.module.<key>`` to ``<prefix><name>.<key>``
    in place for every child ``name`` (order and ``_metadata`` kept).

    Args:
        state (dict): A state dict (with its ``_metadata``, if any).
        prefix (str): The prefix of the owning module's keys.
        names (Sequence[str]): The children that may be wrapped.
    """
    olds = [f'{prefix}{name}.module' for name in names]
    news = [f'{prefix}{name}' for name in names]

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


def _strip_hook(names_attr: str, module: nn.Module, state: Dict, prefix: str,
                *args) -> None:
    """``state_dict`` hook and ``load_state_dict`` pre-hook: strip the
    wrappers' ``.module`` of the children named by ``module.<names_attr>``."""
    strip_wrapper_keys(state, prefix, getattr(module, names_attr))


def register_wrapper_key_hooks(module: nn.Module,
                               names_attr: str = 'student_names') -> None:
    """Make ``module``'s checkpoints hold ``<name>.<key>`` whether or not
    its children are wrapped in their own DDP.

    ``MMSeparateDistributedDataParallel`` wraps each child; MMEngine's
    loader unwraps the outer wrapper before it matches keys, so with
    ``<name>.module.*`` keys a distributed ``--resume`` would silently load
    no weights of those children. The saving hook drops the ``.module``; the
    loading pre-hook also accepts checkpoints that still have it.

    Args:
        module (nn.Module): The algorithm.
        names_attr (str): The attribute of ``module`` listing the wrapped
            children's names. Defaults to ``'student_names'``.
    """
    hook = functools.partial(_strip_hook, names_attr)
    module._register_state_dict_hook(hook)
    module._register_load_state_dict_pre_hook(hook, with_module=True)
