"""Validation helpers shared by the algorithms, hooks and tools.

Every function here is pure (it inspects its arguments and raises, or
returns a value) and names the config field it checks in its message, so a
bad config fails *before* training with an error that says what to fix:

* numbers: :func:`check_positive` (``tau``), :func:`check_loss_weight`
  (``alpha``/``beta``/``gamma``), :func:`check_trainable` (not all zero);
* models: :func:`check_student_names`, :func:`head_num_classes`,
  :func:`check_num_classes_agree`, :func:`model_num_classes`;
* checkpoints: :func:`force_weights_only`, :func:`load_weights_only`,
  :func:`extract_state_dict`, :func:`state_dict_mismatch`,
  :func:`load_state_dict_exactly`;
* data: :func:`check_labels_in_range`, :func:`check_image_folder`,
  :func:`check_data_cfg`;
* training: :func:`check_logits`, :func:`check_finite_losses`.
"""
import keyword
import math
import os
import os.path as osp
import pickle
import re
from contextlib import contextmanager
from typing import (Any, Callable, Dict, Iterable, Iterator, List, Mapping,
                    Optional, Sequence, Tuple)

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    'UnsafeCheckpointError', 'IMAGE_EXTENSIONS', 'check_positive',
    'check_loss_weight', 'check_trainable', 'check_student_names',
    'head_num_classes', 'check_num_classes_agree', 'model_num_classes',
    'force_weights_only', 'load_weights_only', 'extract_state_dict',
    'state_dict_mismatch', 'load_state_dict_exactly',
    'check_labels_in_range', 'check_image_folder', 'check_data_cfg',
    'check_logits', 'check_finite_losses'
]

#: image file extensions mmpretrain's ``CustomDataset`` reads
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif',
                    '.tiff', '.webp')
#: how many offending items an error message lists before "... N more"
_SHOW = 5


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint whose pickle needs more than plain weights to load.

    Raised instead of torch's generic "Weights only load failed" so that the
    message names the file and the config field. A subclass of
    :class:`pickle.UnpicklingError`, as torch's own error is.
    """


def _is_number(value: Any) -> bool:
    """True for ``int``/``float`` (and NumPy scalars), never for ``bool``."""
    return isinstance(value, (int, float, np.integer, np.floating)) and \
        not isinstance(value, (bool, np.bool_))


def _listing(items: Sequence[str], limit: int = _SHOW) -> str:
    """``'a, b, c'`` or ``'a, b, ... and 7 more'``."""
    shown = ', '.join(items[:limit])
    if len(items) > limit:
        shown += f', ... and {len(items) - limit} more'
    return shown


# ---------------------------------------------------------------------------
# numbers
# ---------------------------------------------------------------------------
def check_positive(value: Any, field: str) -> float:
    """A finite number ``> 0`` (e.g. the temperature ``tau``).

    Args:
        value (Any): The configured value.
        field (str): Its config path, for the message (``'model.tau'``).

    Returns:
        float: ``value`` as a float.

    Raises:
        ValueError: If ``value`` is not a finite number ``> 0``.
    """
    if not (_is_number(value) and math.isfinite(value) and value > 0):
        raise ValueError(f'`{field}` must be a finite number > 0, got '
                         f'{value!r}')
    return float(value)


def check_loss_weight(value: Any, field: str) -> float:
    """A finite loss weight ``>= 0`` (``alpha``, ``beta``, ``gamma``).

    Args:
        value (Any): The configured weight.
        field (str): Its config path, for the message.

    Returns:
        float: ``value`` as a float.

    Raises:
        ValueError: If ``value`` is negative, NaN, infinite or not a number.
    """
    if not (_is_number(value) and math.isfinite(value) and value >= 0):
        raise ValueError(f'`{field}` must be a finite number >= 0, got '
                         f'{value!r}')
    return float(value)


def check_trainable(weights: Mapping[str, Mapping[str, float]],
                    field: str = 'model') -> None:
    """Every student has at least one non-zero loss weight.

    Args:
        weights (Mapping[str, Mapping[str, float]]): Per student name, its
            resolved ``alpha``/``beta``/``gamma``.
        field (str): The algorithm's config path. Defaults to ``'model'``.

    Raises:
        ValueError: If some student's weights are all zero (its loss would
            be identically 0 and it would never train).
    """
    for name, own in weights.items():
        if all(float(v) == 0.0 for v in own.values()):
            keys = ', '.join(f'{k}={v}' for k, v in own.items())
            raise ValueError(
                f'student {name!r}: all its loss weights are 0 ({keys}, from '
                f'`{field}.alpha/beta/gamma` and '
                f'`{field}.student_loss_weights.{name}`), so its loss is '
                'always 0 and it would never train; give alpha, beta or '
                'gamma a positive value')


# ---------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------
def check_student_names(names: Sequence[Any],
                        reserved: Iterable[str] = ('teacher', 'ensemble'),
                        field: str = 'model.students') -> List[str]:
    """At least two distinct student names that are Python identifiers.

    Names become child-module names, loss keys (``<name>.loss``), metric
    prefixes (``<name>/accuracy/top1``) and exported file names
    (``<name>.pth``), so they must be identifiers, must not repeat (also not
    up to letter case, which would clash on case-insensitive file systems)
    and must not be one of ``reserved`` (the ``teacher``/``ensemble`` metric
    prefixes of the multi-model validation loop).

    Args:
        names (Sequence[Any]): The student names in config order.
        reserved (Iterable[str]): Names taken by something else. Defaults
            to ``('teacher', 'ensemble')``.
        field (str): The config path. Defaults to ``'model.students'``.

    Returns:
        List[str]: ``names`` as a list.

    Raises:
        ValueError: On fewer than two names, a non-identifier, a keyword, a
            duplicate or a reserved name.
    """
    names = list(names)
    if len(names) < 2:
        raise ValueError(f'`{field}` needs at least two students (a dict '
                         f'name -> model), got {len(names)}: {names}')
    seen: Dict[str, str] = {}
    reserved = {r.lower() for r in reserved}
    for name in names:
        if not isinstance(name, str) or not name.isidentifier() or \
                keyword.iskeyword(name):
            raise ValueError(f'student name {name!r} in `{field}` must be a '
                             'Python identifier (letters, digits, _; not a '
                             'keyword)')
        if name.lower() in reserved:
            raise ValueError(f'student name {name!r} in `{field}` collides '
                             f'with a reserved name ({sorted(reserved)}: the '
                             'teacher and the metric prefixes of the '
                             'validation loop); rename it')
        if name.lower() in seen:
            raise ValueError(f'duplicate student name {name!r} in `{field}` '
                             f'(same as {seen[name.lower()]!r} up to letter '
                             'case); every student needs its own name')
        seen[name.lower()] = name
    return names


def head_num_classes(model: nn.Module) -> Optional[int]:
    """``model.head.num_classes`` of a classifier, or None if it has none.

    Args:
        model (nn.Module): A classifier (e.g. mmpretrain's
            ``ImageClassifier``).

    Returns:
        int | None: The class count of its head.
    """
    value = getattr(getattr(model, 'head', None), 'num_classes', None)
    return int(value) if _is_number(value) else None


def check_num_classes_agree(num_classes: Mapping[str, Optional[int]],
                            field: str = 'model') -> Optional[int]:
    """Teacher and students predict the same number of classes.

    Args:
        num_classes (Mapping[str, int | None]): Per model (``'teacher'``,
            ``'students.<name>'``), its head's class count; None = unknown.
        field (str): The algorithm's config path. Defaults to ``'model'``.

    Returns:
        int | None: The common class count (None if none is known).

    Raises:
        ValueError: If two known counts differ.
    """
    known = {k: v for k, v in num_classes.items() if v is not None}
    if len(set(known.values())) > 1:
        detail = ', '.join(f'`{field}.{k}.head.num_classes`={v}'
                           for k, v in known.items())
        raise ValueError(f'teacher and students disagree on num_classes: '
                         f'{detail}; every head must predict the classes of '
                         'the data set')
    return next(iter(known.values()), None)


def model_num_classes(model: nn.Module) -> Optional[int]:
    """The smallest class count over the classification heads in ``model``.

    Looks at every sub-module whose class name ends with ``Head`` and that
    has an integer ``num_classes`` (mmpretrain's heads), so it works for
    plain classifiers, MMRazor's distillers and ``MultiStudentDistill``
    alike. A label is valid when every head can predict it, hence the
    minimum.

    Args:
        model (nn.Module): The (possibly DDP-wrapped) model.

    Returns:
        int | None: The class count, or None if no head declares one.
    """
    counts = [int(m.num_classes) for m in model.modules()
              if type(m).__name__.endswith('Head')
              and _is_number(getattr(m, 'num_classes', None))]
    return min(counts) if counts else None


# ---------------------------------------------------------------------------
# checkpoints
# ---------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------
def _flat_labels(labels: Any) -> List[Tuple[int, int]]:
    """``(sample index, label)`` pairs of single- or multi-label targets."""
    pairs = []
    for idx, label in enumerate(labels):
        values = np.asarray(label).reshape(-1)
        pairs.extend((idx, int(v)) for v in values)
    return pairs


def check_labels_in_range(labels: Sequence[Any], num_classes: int,
                          field: str,
                          describe: Optional[Callable[[int], str]] = None
                          ) -> None:
    """Every label lies in ``[0, num_classes)``.

    Args:
        labels (Sequence[Any]): Per sample, an int label (or an array of
            them for multi-label data).
        num_classes (int): The model's class count.
        field (str): The data set's config path, e.g.
            ``'train_dataloader.dataset'``.
        describe (Callable[[int], str], optional): Sample index to a short
            description (its file). Defaults to None.

    Raises:
        ValueError: Naming the first offending sample and the count.
    """
    bad = [(i, y) for i, y in _flat_labels(labels)
           if y < 0 or y >= num_classes]
    if bad:
        idx, label = bad[0]
        where = f' ({describe(idx)})' if describe else ''
        raise ValueError(
            f'`{field}`: label {label} of sample {idx}{where} is outside '
            f'[0, {num_classes}): the model predicts {num_classes} classes; '
            f'{len(bad)} label(s) out of range in all. Fix the annotation '
            "file / class folders or the heads' num_classes")


def check_image_folder(folder: str, field: str) -> None:
    """``folder`` exists and holds at least one image (at any depth).

    Args:
        folder (str): The image folder.
        field (str): Its config path.

    Raises:
        FileNotFoundError: If it does not exist.
        ValueError: If it holds no image file.
    """
    if not osp.isdir(folder):
        raise FileNotFoundError(f'`{field}`: image folder {folder!r} does not '
                                'exist')
    for _, _, files in os.walk(folder, followlinks=True):
        if any(f.lower().endswith(IMAGE_EXTENSIONS) for f in files):
            return
    raise ValueError(f'`{field}`: image folder {folder!r} is empty (no '
                     f'{"/".join(IMAGE_EXTENSIONS)} files)')


def _prefix_path(prefix: Any) -> str:
    if isinstance(prefix, Mapping):
        return prefix.get('img_path', prefix.get('img', '')) or ''
    return prefix or ''


def check_data_cfg(cfg: Mapping[str, Any],
                   keys: Sequence[str] = ('train_dataloader',
                                          'val_dataloader',
                                          'test_dataloader')) -> None:
    """Pre-flight check of the image folders / annotation files of a config.

    For each dataloader's (innermost) dataset with a ``data_root`` or
    ``data_prefix``: an ``ann_file`` must exist and not be empty; without
    one, the image folder must exist and hold images. Data sets without
    such fields (e.g. ``DigitsDataset``) are skipped. Cheap: no image is
    decoded.

    Args:
        cfg (Mapping[str, Any]): The full config.
        keys (Sequence[str]): Dataloaders to check.

    Raises:
        FileNotFoundError: If a folder or annotation file is missing.
        ValueError: If it is empty.
    """
    for key in keys:
        loader = cfg.get(key) if hasattr(cfg, 'get') else None
        if not loader or 'dataset' not in loader:
            continue
        dataset, field = loader['dataset'], f'{key}.dataset'
        while 'dataset' in dataset and 'data_root' not in dataset:
            dataset, field = dataset['dataset'], field + '.dataset'
        if 'data_root' not in dataset and 'data_prefix' not in dataset:
            continue
        root = dataset.get('data_root') or ''
        ann = dataset.get('ann_file') or ''
        if ann:
            path = ann if osp.isabs(ann) else osp.join(root, ann)
            if not osp.isfile(path):
                raise FileNotFoundError(f'`{field}.ann_file`: {path!r} does '
                                        'not exist')
            if osp.getsize(path) == 0:
                raise ValueError(f'`{field}.ann_file`: {path!r} is empty')
            continue
        prefix = _prefix_path(dataset.get('data_prefix'))
        folder = prefix if osp.isabs(prefix) else osp.join(root, prefix)
        name = 'data_prefix' if prefix else 'data_root'
        check_image_folder(folder, f'{field}.{name}')


# ---------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------
def _where(iteration: Optional[int], epoch: Optional[int]) -> str:
    if iteration is None:
        return 'at an unknown iteration'
    text = f'at iteration {iteration}'
    return text + (f' (epoch {epoch})' if epoch is not None else '')


def check_logits(logits: Mapping[str, Tensor],
                 iteration: Optional[int] = None,
                 epoch: Optional[int] = None) -> None:
    """All models' logits of a batch have one shape and are finite.

    One host synchronisation for all models together.

    Args:
        logits (Mapping[str, Tensor]): Per model name (``'teacher'`` or a
            student name), its ``(B, C)`` logits.
        iteration (int, optional): 1-based training iteration, for the
            message. Defaults to None.
        epoch (int, optional): 1-based epoch, for the message. Defaults to
            None.

    Raises:
        ValueError: If the shapes differ (the models disagree on the
            classes).
        FloatingPointError: Naming each model with NaN/inf logits.
    """
    shapes = {k: tuple(v.shape) for k, v in logits.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError('teacher and students output logits of different '
                         f'shapes {shapes}; they must predict the same '
                         'classes')
    names = list(logits)
    finite = torch.stack([torch.isfinite(logits[k]).all()
                          for k in names]).tolist()
    bad = [k for k, ok in zip(names, finite) if not ok]
    if bad:
        detail = ', '.join(
            f'{"the teacher" if k == "teacher" else "student " + repr(k)} '
            f'({int((~torch.isfinite(logits[k])).sum())} of '
            f'{logits[k].numel()} values NaN/inf)' for k in bad)
        raise FloatingPointError(
            f'non-finite logits {_where(iteration, epoch)} from {detail}; '
            'stopping before any weights are updated or checkpointed. Lower '
            'the learning rate, check the inputs, or resume from the last '
            'checkpoint')


def check_finite_losses(losses: Mapping[str, Tensor],
                        iteration: Optional[int] = None,
                        epoch: Optional[int] = None) -> None:
    """All loss values are finite (one host synchronisation).

    Args:
        losses (Mapping[str, Tensor]): Loss name (``'<student>.loss'``) to a
            scalar tensor.
        iteration (int, optional): 1-based iteration. Defaults to None.
        epoch (int, optional): 1-based epoch. Defaults to None.

    Raises:
        FloatingPointError: Naming the non-finite losses.
    """
    names = list(losses)
    if not names:
        return
    values = torch.stack([losses[k].detach().float().reshape(())
                          for k in names]).tolist()
    bad = [f'{k}={v}' for k, v in zip(names, values) if not math.isfinite(v)]
    if bad:
        raise FloatingPointError(
            f'non-finite loss {_where(iteration, epoch)}: {", ".join(bad)}; '
            'stopping before any weights are updated or checkpointed')
