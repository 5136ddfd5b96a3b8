"""Build ImageNet-100 (the 100 CMC classes) from an ImageNet-1k tree.

ImageNet-100 is the 100-class subset of ImageNet-1k used by CMC (Tian et al.,
2019) and, among many others, the UDSKD paper (arXiv 2511.18826). This tool
reads an ImageNet-1k root::

    IMAGENET_ROOT/train/<wnid>/*.JPEG
    IMAGENET_ROOT/val/<wnid>/*.JPEG          (foldered val), or
    IMAGENET_ROOT/val/*.JPEG + a label file  (flat val, see below)

keeps the classes of the class list (by default the package copy
``mmrazor_udskd/datasets/imagenet100_wnids.txt``) and writes, with
``--mode ann`` (the default), mmpretrain ``CustomDataset`` annotation files::

    OUT_DIR/train.txt    lines "<wnid>/<file> <label>", relative to train/
    OUT_DIR/val.txt      lines "<wnid>/<file> <label>" (foldered val) or
                         "<file> <label>" (flat val), relative to val/
    OUT_DIR/classes.txt  the wnids, one a line, line i = label i

Labels run 0..99 in the order of the class list. ``OUT_DIR`` defaults to
``IMAGENET_ROOT/meta100``, which is what
``configs/_base_/datasets/imagenet100_bs64.py`` expects (``data_root`` =
``IMAGENET_ROOT``). With ``--mode symlink`` the tool instead builds a
stand-alone tree (``OUT_DIR`` defaults to ``IMAGENET_ROOT/imagenet100``)::

    OUT_DIR/train/<wnid> -> IMAGENET_ROOT/train/<wnid>   (folder links)
    OUT_DIR/val/<wnid>/  (folder links, or file links for a flat val)
    OUT_DIR/meta100/{train,val,classes}.txt

so the same config works with ``data_root=OUT_DIR``. (Scanning that tree
without the annotation files also works, but then labels follow the sorted
wnids rather than the class-list order.)

A flat val folder needs its labels, from ``--val-labels`` or, if that is not
given, the first of ``IMAGENET_ROOT/LOC_val_solution.csv`` (Kaggle:
``ImageId,PredictionString`` whose first token is the wnid),
``IMAGENET_ROOT/meta/val.txt`` and ``IMAGENET_ROOT/val.txt`` (lines
``<file> <wnid>``, or ``<file> <index>`` with the index into the sorted
wnids of ``train/``, as in mmpretrain's ``meta/val.txt``).

Example::

    python tools/dataset_converters/make_imagenet100.py data/imagenet
    # then any configs/*/*_in100.py with --cfg-options data_root=data/imagenet
"""
import argparse
import importlib.util
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from imagenet_scan import (IMG_EXTENSIONS,  # noqa: E402
                           VAL_LABEL_CANDIDATES, find_val_label_file,
                           list_class_images, read_flat_val_labels,
                           scan_flat_val, scan_foldered_split, track)

__all__ = [
    'IMG_EXTENSIONS', 'default_class_list', 'read_class_list',
    'list_class_images', 'scan_foldered_split', 'read_flat_val_labels',
    'scan_flat_val', 'write_annotations', 'build_symlinks', 'parse_args',
    'main'
]

#: a list of ``(relative path, label)`` pairs of one split
Samples = List[Tuple[str, int]]


def default_class_list() -> str:
    """The package copy of the ImageNet-100 class list.

    Found without importing ``mmrazor_udskd`` (whose import is slow); falls
    back to the copy beside this tool in a source checkout.

    Returns:
        str: Path of ``mmrazor_udskd/datasets/imagenet100_wnids.txt``.
    """
    name = 'imagenet100_wnids.txt'
    spec = importlib.util.find_spec('mmrazor_udskd')
    if spec is not None and spec.submodule_search_locations:
        for pkg_dir in spec.submodule_search_locations:
            path = osp.join(pkg_dir, 'datasets', name)
            if osp.isfile(path):
                return path
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    return osp.join(repo, 'mmrazor_udskd', 'datasets', name)


def read_class_list(path: str) -> List[str]:
    """Read a class list, one wnid a line (blank lines and ``#`` comments
    ignored).

    Args:
        path (str): The list file.

    Returns:
        List[str]: The wnids in file order.

    Raises:
        FileNotFoundError: If the file is absent.
        ValueError: If the list is empty or names a class twice.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'class list {path} does not exist')
    with open(path) as f:
        wnids = [line.split('#', 1)[0].strip() for line in f]
    wnids = [w for w in wnids if w]
    if not wnids:
        raise ValueError(f'class list {path} is empty')
    seen = set()
    dupes = sorted({w for w in wnids if w in seen or seen.add(w)})
    if dupes:
        raise ValueError(f'class list {path} repeats {", ".join(dupes)}')
    return wnids


def write_annotations(out_dir: str, wnids: Sequence[str],
                      splits: Dict[str, Samples]) -> None:
    """Write ``<split>.txt`` for every split and ``classes.txt``.

    Args:
        out_dir (str): Output folder (created if needed).
        wnids (Sequence[str]): The class list (line i = label i).
        splits (Dict[str, Samples]): Samples per split name.
    """
    os.makedirs(out_dir, exist_ok=True)
    for split, samples in splits.items():
        with open(osp.join(out_dir, f'{split}.txt'), 'w') as f:
            f.writelines(f'{path} {label}\n' for path, label in samples)
    with open(osp.join(out_dir, 'classes.txt'), 'w') as f:
        f.writelines(f'{w}\n' for w in wnids)


def _link(src: str, dst: str) -> None:
    """Make ``dst`` a symlink to ``src``, replacing an existing link."""
    if osp.islink(dst):
        if os.readlink(dst) == src:
            return
        os.remove(dst)
    elif osp.exists(dst):
        raise FileExistsError(f'{dst} exists and is not a symlink')
    os.makedirs(osp.dirname(dst), exist_ok=True)
    os.symlink(src, dst)


def build_symlinks(root: str, out_dir: str, wnids: Sequence[str],
                   val_samples: Samples, val_foldered: bool) -> None:
    """Link the kept classes into ``out_dir/{train,val}/<wnid>``.

    Args:
        root (str): The ImageNet-1k root.
        out_dir (str): The new tree's root.
        wnids (Sequence[str]): The classes to link.
        val_samples (Samples): The val samples (used for a flat val).
        val_foldered (bool): Whether ``val/`` has class folders; if not, each
            val image is linked as ``out_dir/val/<wnid>/<file>``.
    """
    root = osp.abspath(root)
    splits = ['train', 'val'] if val_foldered else ['train']
    for split in splits:
        for wnid in track(wnids, f'linking {split}/ ({len(wnids)} classes)'):
            _link(osp.join(root, split, wnid), osp.join(out_dir, split, wnid))
    if not val_foldered:
        for name, label in track(
                val_samples, f'linking val/ ({len(val_samples)} images)'):
            _link(osp.join(root, 'val', name),
                  osp.join(out_dir, 'val', wnids[label], name))


def _has_class_folders(split_dir: str) -> bool:
    return any(
        osp.isdir(osp.join(split_dir, name)) for name in os.listdir(split_dir))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (List[str], optional): Arguments; None reads ``sys.argv``.
            Defaults to None.

    Returns:
        argparse.Namespace: The options.
    """
    parser = argparse.ArgumentParser(
        description='Build ImageNet-100 annotation files (or a symlink '
        'tree) from an ImageNet-1k folder tree.')
    parser.add_argument('root', help='ImageNet-1k root with train/ and val/')
    parser.add_argument(
        '--out-dir',
        help='output folder (default: ROOT/meta100 with --mode ann, '
        'ROOT/imagenet100 with --mode symlink)')
    parser.add_argument(
        '--class-list', default=None,
        help='wnids to keep, one a line, in label order (default: the '
        'package copy of the standard CMC list)')
    parser.add_argument(
        '--mode', choices=['ann', 'symlink'], default='ann',
        help='write annotation files only (ann) or also a symlink tree')
    parser.add_argument(
        '--val-labels', default=None,
        help='labels of a flat val/ folder: LOC_val_solution.csv or lines '
        '"<file> <wnid|index>" (default: looked up in ROOT)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> str:
    """Run the tool.

    Args:
        argv (List[str], optional): Command-line arguments; None reads
            ``sys.argv``. Defaults to None.

    Returns:
        str: The folder holding the annotation files.

    Raises:
        FileNotFoundError: If the root, a split or a class is missing.
        ValueError: If the class list or a label file is malformed.
    """
    args = parse_args(argv)
    root = args.root
    if not osp.isdir(root):
        raise FileNotFoundError(f'ImageNet root {root} is not a folder')
    wnids = read_class_list(args.class_list or default_class_list())
    if args.out_dir is None:
        args.out_dir = osp.join(
            root, 'meta100' if args.mode == 'ann' else 'imagenet100')

    train = scan_foldered_split(osp.join(root, 'train'), wnids)
    val_dir = osp.join(root, 'val')
    if not osp.isdir(val_dir):
        raise FileNotFoundError(f'{val_dir} is not a folder')
    val_foldered = _has_class_folders(val_dir)
    if val_foldered:
        val = scan_foldered_split(val_dir, wnids)
    else:
        label_file = args.val_labels or find_val_label_file(root)
        if label_file is None:
            raise FileNotFoundError(
                f'{val_dir} has no class folders and no label file was '
                f'found (looked for {", ".join(VAL_LABEL_CANDIDATES)} in '
                f'{root}); pass --val-labels, or sort val/ into <wnid>/ '
                'folders')
        train_wnids = sorted(
            d for d in os.listdir(osp.join(root, 'train'))
            if osp.isdir(osp.join(root, 'train', d)))
        val = scan_flat_val(val_dir,
                            read_flat_val_labels(label_file, train_wnids),
                            wnids)

    if args.mode == 'ann':
        ann_dir = args.out_dir
    else:
        build_symlinks(root, args.out_dir, wnids, val, val_foldered)
        ann_dir = osp.join(args.out_dir, 'meta100')
        if not val_foldered:  # the links are foldered: <wnid>/<file>
            val = [(f'{wnids[label]}/{name}', label) for name, label in val]
    write_annotations(ann_dir, wnids, dict(train=train, val=val))
    print(f'{len(wnids)} classes, {len(train)} train and {len(val)} val '
          f'images; annotations in {ann_dir}'
          + (f', symlink tree in {args.out_dir}'
             if args.mode == 'symlink' else ''))
    return ann_dir


if __name__ == '__main__':
    try:
        main()
    except (FileNotFoundError, FileExistsError, ValueError) as err:
        sys.exit(f'error: {err}')
