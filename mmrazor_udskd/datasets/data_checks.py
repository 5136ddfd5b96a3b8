"""Checks of the data a config points to: labels in range, image folders
and annotation files present and not empty (no image is decoded)."""
import os
import os.path as osp
from typing import Any, Callable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

__all__ = [
    'IMAGE_EXTENSIONS', 'check_labels_in_range', 'check_image_folder',
    'check_data_cfg'
]

#: image file extensions mmpretrain's ``CustomDataset`` reads
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif',
                    '.tiff', '.webp')


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


def _check_pickled_batches(dataset: Mapping[str, Any], folder: str,
                           field: str) -> bool:
    """Check the files of a data set of pickled batches.

    mmpretrain's ``CIFAR10`` / ``CIFAR100`` read ``base_folder`` +
    ``train_list`` / ``test_list`` instead of an image tree.

    Args:
        dataset (Mapping[str, Any]): The dataset config.
        folder (str): Its data folder.
        field (str): Config field, for the message.

    Returns:
        bool: True when the data set is of that kind and its files exist;
        False for other data sets.

    Raises:
        FileNotFoundError: Naming ``<field>.data_root`` and the missing file.
    """
    from mmpretrain.registry import DATASETS
    cls = DATASETS.get(str(dataset.get('type', '')).split('.')[-1])
    files = getattr(cls, 'train_list', None), getattr(cls, 'test_list', None)
    if cls is None or not hasattr(cls, 'base_folder') or None in files:
        return False
    for name, _ in files[0] + files[1]:
        path = osp.join(folder, cls.base_folder, name)
        if not osp.isfile(path):
            raise FileNotFoundError(f'`{field}.data_root`: {path!r} does not '
                                    f'exist ({cls.__name__} reads the '
                                    'official pickled batches)')
    return True


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
        if _check_pickled_batches(dataset, folder, field):
            continue
        name = 'data_prefix' if prefix else 'data_root'
        check_image_folder(folder, f'{field}.{name}')
