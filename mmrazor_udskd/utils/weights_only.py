"""Weights-only checkpoint loading, with errors that name the config field.

A checkpoint is unpickled with torch's weights-only unpickler (local path or
any URL MMEngine knows), its tensors are compared key by key and shape by
shape with the model, and nothing is loaded unless all of them match.
"""
import os
import os.path as osp
import pickle
import re
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Mapping, Sequence, Tuple

from torch import Tensor, nn

__all__ = [
    'UnsafeCheckpointError', 'force_weights_only', 'load_weights_only',
    'extract_state_dict', 'state_dict_mismatch', 'load_state_dict_exactly'
]

#: how many offending items an error message lists before "... N more"
_SHOW = 5


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint whose pickle needs more than plain weights to load.

    Raised instead of torch's generic "Weights only load failed" so that the
    message names the file and the config field. A subclass of
    :class:`pickle.UnpicklingError`, as torch's own error is.
    """


def _listing(items: Sequence[str], limit: int = _SHOW) -> str:
    """``'a, b, c'`` or ``'a, b, ... and 7 more'``."""
    shown = ', '.join(items[:limit])
    if len(items) > limit:
        shown += f', ... and {len(items) - limit} more'
    return shown


_FORCE = 'TORCH_FORCE_WEIGHTS_ONLY_LOAD'


@contextmanager
def force_weights_only() -> Iterator[None]:
    """Make every ``torch.load`` in the block weights-only.

    Sets ``TORCH_FORCE_WEIGHTS_ONLY_LOAD=1`` (read by ``torch.load`` at each
    call; it overrides an explicit ``weights_only=False``, e.g. the one of
    ``torch.hub.load_state_dict_from_url`` that MMEngine's ``http://``
    loader goes through) and restores its previous value afterwards. If the
    user's environment also asks torch to turn weights-only loading off,
    torch refuses every load in the block with a ``RuntimeError`` naming
    both variables (fail closed; nothing is unpickled). The compat
    allow-list (HistoryBuffer, NumPy data classes) still applies.

    Yields:
        None
    """
    saved = os.environ.get(_FORCE)
    os.environ[_FORCE] = '1'
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(_FORCE, None)
        else:
            os.environ[_FORCE] = saved


def _is_url(filename: str) -> bool:
    return re.match(r'^[A-Za-z][\w+.-]*://', filename) is not None


def load_weights_only(filename: str, field: str,
                      map_location: Any = 'cpu') -> Any:
    """Load a checkpoint (local path or URL) with weights-only unpickling.

    Goes through MMEngine's ``CheckpointLoader`` (so every scheme it knows
    works: paths, ``http(s)://``, ``open-mmlab://``, ...) inside
    :func:`force_weights_only`.

    Args:
        filename (str): Path or URL.
        field (str): Config path naming it, e.g. ``'model.teacher_ckpt'``.
        map_location (Any): As for ``torch.load``. Defaults to ``'cpu'``.

    Returns:
        Any: The loaded object.

    Raises:
        FileNotFoundError: If a local ``filename`` does not exist.
        UnsafeCheckpointError: If its pickle needs globals outside the
            weights-only allow-list (it could run code); nothing of it runs.
        ValueError: If it cannot be downloaded or read as a PyTorch
            checkpoint (e.g. a truncated file).
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    if not isinstance(filename, (str, os.PathLike)):
        raise TypeError(f'`{field}` must be a path or URL string, got '
                        f'{type(filename).__name__}')
    filename = os.fspath(filename)
    if not _is_url(filename):
        path = osp.expanduser(filename)
        if not osp.isfile(path):
            what = 'is a directory' if osp.isdir(path) else 'does not exist'
            raise FileNotFoundError(f'`{field}`: checkpoint file {filename!r} '
                                    f'{what}')
    try:
        with force_weights_only():
            return CheckpointLoader.load_checkpoint(
                filename, map_location=map_location, logger='current')
    except pickle.UnpicklingError as err:
        found = re.findall(r'GLOBAL ([\w.]+)', str(err))
        needs = f' (it needs {", ".join(sorted(set(found)))})' if found \
            else ''
        raise UnsafeCheckpointError(
            f'`{field}`: refused to load {filename!r}: it is not a '
            f'plain-weights checkpoint{needs}. Its pickle would have to run '
            'code, which weights-only loading does not allow. If you trust '
            'the file, re-save its tensors as a plain state dict: '
            "torch.save({'state_dict': torch.load(path, weights_only=False)"
            "['state_dict']}, new_path)") from err
    except (RuntimeError, EOFError, OSError) as err:
        if isinstance(err, FileNotFoundError):
            raise FileNotFoundError(
                f'`{field}`: checkpoint {filename!r} not found: {err}') \
                from err
        raise ValueError(f'`{field}`: {filename!r} could not be read as a '
                         f'PyTorch checkpoint ({type(err).__name__}: {err})'
                         ) from err


def extract_state_dict(checkpoint: Any, filename: str,
                       field: str) -> Dict[str, Tensor]:
    """The tensors of a checkpoint: its ``state_dict``, or itself.

    A leading ``module.`` (from a DDP-wrapped save) is stripped.

    Args:
        checkpoint (Any): What :func:`load_weights_only` returned.
        filename (str): The file, for the message.
        field (str): The config path, for the message.

    Returns:
        Dict[str, Tensor]: Key to tensor.

    Raises:
        ValueError: If it is not a mapping of names to tensors.
    """
    state = checkpoint
    if isinstance(checkpoint, Mapping) and 'state_dict' in checkpoint:
        state = checkpoint['state_dict']
    if not isinstance(state, Mapping) or not state or not all(
            isinstance(k, str) and isinstance(v, Tensor)
            for k, v in state.items()):
        raise ValueError(f'`{field}`: {filename!r} holds no state dict (a '
                         "mapping of names to tensors, or one under "
                         "'state_dict')")
    return {re.sub(r'^module\.', '', k): v for k, v in state.items()}


def state_dict_mismatch(
    expected: Mapping[str, Tensor], found: Mapping[str, Tensor]
) -> Tuple[List[str], List[str], List[Tuple[str, tuple, tuple]]]:
    """Compare a model's state dict with a checkpoint's.

    Args:
        expected (Mapping[str, Tensor]): The model's ``state_dict()``.
        found (Mapping[str, Tensor]): The checkpoint's tensors.

    Returns:
        Tuple[List[str], List[str], List[Tuple[str, tuple, tuple]]]: Keys
        missing from the checkpoint, keys the model does not have, and
        ``(key, checkpoint shape, model shape)`` for shape mismatches.
    """
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    shapes = [(k, tuple(found[k].shape), tuple(expected[k].shape))
              for k in sorted(set(expected) & set(found))
              if tuple(found[k].shape) != tuple(expected[k].shape)]
    return missing, unexpected, shapes


def load_state_dict_exactly(module: nn.Module, filename: str, field: str,
                            what: str = 'the model') -> Dict[str, Any]:
    """Load a weights-only checkpoint into ``module``, all keys and shapes
    matching, or raise naming every difference.

    MMEngine's ``load_checkpoint(strict=False)`` would only warn and load
    the matching part; a teacher of another architecture or class count
    must instead stop the run.

    Args:
        module (nn.Module): The model to load into.
        filename (str): Path or URL.
        field (str): Its config path, e.g. ``'model.teacher_ckpt'``.
        what (str): How to call ``module`` in the message. Defaults to
            ``'the model'``.

    Returns:
        Dict[str, Any]: The loaded checkpoint.

    Raises:
        ValueError: On missing/unexpected keys or shape mismatches.
    """
    checkpoint = load_weights_only(filename, field)
    state = extract_state_dict(checkpoint, filename, field)
    missing, unexpected, shapes = state_dict_mismatch(module.state_dict(),
                                                      state)
    if missing or unexpected or shapes:
        parts = []
        if shapes:
            parts.append(f'{len(shapes)} shape mismatch(es): ' + _listing(
                [f'{k} checkpoint {list(c)} vs model {list(m)}'
                 for k, c, m in shapes]))
        if missing:
            parts.append(f'{len(missing)} key(s) missing from the '
                         f'checkpoint: {_listing(missing)}')
        if unexpected:
            parts.append(f'{len(unexpected)} unexpected key(s): '
                         f'{_listing(unexpected)}')
        raise ValueError(
            f'`{field}`: {filename!r} does not fit {what} (another '
            f'architecture or class count?): {"; ".join(parts)}. Nothing '
            'was loaded.')
    module.load_state_dict(state, strict=True)
    return checkpoint
