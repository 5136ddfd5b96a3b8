"""Scanning an ImageNet-1k tree for ``make_imagenet100.py``.

Lists the images of the kept classes in a foldered split
(``<split>/<wnid>/*.JPEG``) or in a flat val folder with its label file, and
names the missing classes or files when the tree is incomplete.
"""
import csv
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple

__all__ = [
    'IMG_EXTENSIONS', 'VAL_LABEL_CANDIDATES', 'Samples', 'list_class_images',
    'scan_foldered_split', 'find_val_label_file', 'read_flat_val_labels',
    'scan_flat_val', 'track'
]

#: file endings accepted as images (compared case-insensitively)
IMG_EXTENSIONS: Tuple[str, ...] = ('.jpeg', '.jpg', '.png')

#: label files looked for, in order, when ``val/`` is flat
VAL_LABEL_CANDIDATES: Tuple[str, ...] = ('LOC_val_solution.csv',
                                         osp.join('meta', 'val.txt'),
                                         'val.txt')

#: a list of ``(relative path, label)`` pairs of one split
Samples = List[Tuple[str, int]]


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMG_EXTENSIONS)


def list_class_images(class_dir: str) -> List[str]:
    """The image files under one class folder, recursively, sorted.

    Args:
        class_dir (str): ``<split>/<wnid>``.

    Returns:
        List[str]: Paths relative to ``class_dir`` (``/``-separated).
    """
    files = []
    for dirpath, dirnames, filenames in os.walk(class_dir, followlinks=True):
        dirnames.sort()
        rel_dir = osp.relpath(dirpath, class_dir)
        for name in filenames:
            if _is_image(name):
                rel = name if rel_dir == '.' else osp.join(rel_dir, name)
                files.append(rel.replace(os.sep, '/'))
    return sorted(files)


def _missing_error(split_dir: str, missing: Sequence[str],
                   total: int) -> FileNotFoundError:
    return FileNotFoundError(
        f'{len(missing)} of the {total} classes have no folder in '
        f'{split_dir}: {" ".join(missing)}')


def track(items: Sequence, desc: str) -> Sequence:
    """Iterate ``items`` under mmengine's progress bar (plain if absent),
    on stderr so that stdout keeps the summary."""
    try:
        from mmengine.utils import track_iter_progress
    except ImportError:  # mmengine is a dependency; stay usable without it
        return items
    print(desc, file=sys.stderr, flush=True)
    return track_iter_progress(list(items), file=sys.stderr)


def scan_foldered_split(split_dir: str, wnids: Sequence[str]) -> Samples:
    """Samples of a ``<split>/<wnid>/`` tree restricted to ``wnids``.

    Args:
        split_dir (str): ``IMAGENET_ROOT/train`` or ``IMAGENET_ROOT/val``.
        wnids (Sequence[str]): The classes to keep; label = position.

    Returns:
        Samples: ``(<wnid>/<file>, label)`` pairs, by label then file name.

    Raises:
        FileNotFoundError: If ``split_dir`` or any class folder is missing
            (the message lists every missing wnid).
    """
    if not osp.isdir(split_dir):
        raise FileNotFoundError(f'{split_dir} is not a folder')
    missing = [w for w in wnids if not osp.isdir(osp.join(split_dir, w))]
    if missing:
        raise _missing_error(split_dir, missing, len(wnids))
    samples: Samples = []
    empty = []
    for label, wnid in enumerate(
            track(wnids, f'scanning {split_dir} ({len(wnids)} classes)')):
        files = list_class_images(osp.join(split_dir, wnid))
        if not files:
            empty.append(wnid)
        samples.extend((f'{wnid}/{name}', label) for name in files)
    if empty:
        print(f'warning: no images in {len(empty)} class folders of '
              f'{split_dir}: {" ".join(empty)}', file=sys.stderr)
    return samples


def find_val_label_file(root: str) -> Optional[str]:
    for rel in VAL_LABEL_CANDIDATES:
        path = osp.join(root, rel)
        if osp.isfile(path):
            return path
    return None


def read_flat_val_labels(path: str,
                         train_wnids: Sequence[str]) -> Dict[str, str]:
    """Map each flat val file to its wnid.

    Args:
        path (str): ``LOC_val_solution.csv`` (Kaggle) or a text file with
            lines ``<file> <wnid>`` or ``<file> <index>``.
        train_wnids (Sequence[str]): The sorted class folders of ``train/``;
            an integer label indexes this list (ImageNet-1k order).

    Returns:
        Dict[str, str]: File name (as it appears in ``val/``; the CSV gives
        file stems) to wnid.

    Raises:
        ValueError: If a line cannot be read or an index is out of range.
    """
    mapping: Dict[str, str] = {}
    if path.lower().endswith('.csv'):
        with open(path, newline='') as f:
            for row in csv.DictReader(f):
                image_id = row['ImageId'].strip()
                wnid = row['PredictionString'].split()[0]
                mapping[image_id] = wnid  # a file stem
        return mapping
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2:
                raise ValueError(f'{path}:{lineno}: expected "<file> <label>"'
                                 f', got {line.strip()!r}')
            name, label = parts
            if label.isdigit():
                idx = int(label)
                if idx >= len(train_wnids):
                    raise ValueError(
                        f'{path}:{lineno}: label {idx} but train/ has only '
                        f'{len(train_wnids)} class folders')
                label = train_wnids[idx]
            mapping[name] = label
    return mapping


def scan_flat_val(val_dir: str, labels: Dict[str, str],
                  wnids: Sequence[str]) -> Samples:
    """Samples of a flat ``val/`` folder restricted to ``wnids``.

    Args:
        val_dir (str): ``IMAGENET_ROOT/val`` holding the images directly.
        labels (Dict[str, str]): File name to wnid
            (:func:`read_flat_val_labels`).
        wnids (Sequence[str]): The classes to keep; label = position.

    Returns:
        Samples: ``(<file>, label)`` pairs, by label then file name.

    Raises:
        FileNotFoundError: If some classes have no image in ``val/``.
    """
    index = {w: i for i, w in enumerate(wnids)}
    present = set()
    samples: Samples = []
    names = sorted(n for n in os.listdir(val_dir) if _is_image(n))
    for name in track(names, f'scanning {val_dir} ({len(names)} files)'):
        wnid = labels.get(name, labels.get(osp.splitext(name)[0]))
        if wnid in index:
            samples.append((name, index[wnid]))
            present.add(wnid)
    missing = [w for w in wnids if w not in present]
    if missing:
        raise FileNotFoundError(
            f'{len(missing)} of the {len(wnids)} classes have no image in '
            f'{val_dir} (by its label file): {" ".join(missing)}')
    samples.sort(key=lambda s: (s[1], s[0]))
    return samples
