"""Turn an ImageNet-1k classifier checkpoint into an ImageNet-100 one by
keeping the head rows of the 100 classes.

::

    python tools/model_converters/slice_classifier_head.py IN1K_CKPT OUT_CKPT \\
        --synsets LOC_synset_mapping.txt [--class-list WNIDS.txt] \\
        [--head-key head.fc]

    # or take the 1,000 wnids from an ImageNet-1k tree (its train/ folders)
    python tools/model_converters/slice_classifier_head.py IN1K_CKPT OUT_CKPT \\
        --imagenet-root data/imagenet

An ImageNet-1k head is a linear layer whose row ``k`` scores the ``k``-th
wnid in sorted order (the standard class order of ImageNet-1k, also that of
mmpretrain's ``ImageNet`` dataset and of ``LOC_synset_mapping.txt``). For
every wnid of the class list, in the list's order (label ``i`` of our
ImageNet-100 annotation files is line ``i``), this tool takes that row of
``<head-key>.weight`` and ``<head-key>.bias``; every other tensor is copied
unchanged. The sliced model's logits are therefore exactly the full model's
logits of those 100 classes, so mmpretrain's ImageNet-1k ResNet-50 can be
the UDSKD teacher without training one.

No installed package ships the 1,000 ImageNet-1k wnids (mmpretrain has the
class *names* only), so they come from ``--synsets`` (a file whose lines
start with a wnid, e.g. ImageNet's ``LOC_synset_mapping.txt`` or a plain
list; the order in the file does not matter, they are sorted) or from
``--imagenet-root`` (the folder names under ``ROOT/train``). The class list
defaults to the package copy ``mmrazor_udskd/datasets/imagenet100_wnids.txt``.

The input is loaded weights-only; the output is a plain
``{'state_dict': ..., 'meta': ...}`` that ``model.teacher_ckpt`` accepts.
"""
import argparse
import os
import os.path as osp
import re
import sys
from typing import Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))

import torch  # noqa: E402

from mmrazor_udskd.utils.weights_only import (  # noqa: E402
    extract_state_dict, load_weights_only)

__all__ = [
    'read_wnids', 'imagenet1k_wnids', 'class_indices', 'slice_head',
    'parse_args', 'main'
]

WNID = re.compile(r'^n\d{8}$')
NUM_IN1K = 1000
DEFAULT_CLASS_LIST = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
    'mmrazor_udskd', 'datasets', 'imagenet100_wnids.txt')


def read_wnids(path: str) -> List[str]:
    """The first token of every non-empty line, each checked to be a wnid.

    Args:
        path (str): A wnid list or ``LOC_synset_mapping.txt``.

    Returns:
        List[str]: The wnids in file order.
    """
    wnids = []
    with open(path) as f:
        for num, line in enumerate(f, 1):
            if not line.strip():
                continue
            wnid = line.split()[0]
            if not WNID.match(wnid):
                raise ValueError(f'{path}:{num}: {wnid!r} is not a wnid '
                                 '(n followed by 8 digits)')
            wnids.append(wnid)
    if len(set(wnids)) != len(wnids):
        raise ValueError(f'{path} lists a wnid more than once')
    return wnids


def imagenet1k_wnids(synsets: Optional[str] = None,
                     imagenet_root: Optional[str] = None) -> List[str]:
    """The 1,000 ImageNet-1k wnids in the standard (sorted) class order.

    Args:
        synsets (str, optional): A file of the 1,000 wnids.
        imagenet_root (str, optional): An ImageNet-1k root with
            ``train/<wnid>/`` folders (used if ``synsets`` is None).

    Returns:
        List[str]: Sorted wnids; index ``k`` is head row ``k``.
    """
    if synsets is not None:
        wnids = read_wnids(synsets)
        source = synsets
    elif imagenet_root is not None:
        train = osp.join(imagenet_root, 'train')
        if not osp.isdir(train):
            raise FileNotFoundError(f'{train} is not a folder')
        wnids = [d for d in os.listdir(train)
                 if WNID.match(d) and osp.isdir(osp.join(train, d))]
        source = train
    else:
        raise ValueError('give the ImageNet-1k wnids with --synsets or '
                         '--imagenet-root')
    if len(wnids) != NUM_IN1K:
        raise ValueError(f'{source} has {len(wnids)} wnids; ImageNet-1k has '
                         f'{NUM_IN1K}')
    return sorted(wnids)


def class_indices(class_list: List[str], in1k_wnids: List[str]) -> List[int]:
    """ImageNet-1k index of every wnid of ``class_list``, in its order."""
    index = {w: k for k, w in enumerate(in1k_wnids)}
    missing = [w for w in class_list if w not in index]
    if missing:
        raise ValueError(f'{len(missing)} wnids of the class list are not '
                         f'ImageNet-1k classes: {missing[:5]}')
    return [index[w] for w in class_list]


def slice_head(state: Dict[str, torch.Tensor], indices: List[int],
               head_key: str = 'head.fc') -> Dict[str, torch.Tensor]:
    """A copy of ``state`` whose head keeps the rows ``indices``.

    Args:
        state (Dict[str, Tensor]): The ImageNet-1k state dict.
        indices (List[int]): Head rows to keep, in output order.
        head_key (str): Prefix of the head's ``weight``/``bias``.
            Defaults to ``'head.fc'``.

    Returns:
        Dict[str, Tensor]: The sliced state dict (other tensors shared).
    """
    out = dict(state)
    keys = [f'{head_key}.{p}' for p in ('weight', 'bias')]
    if keys[0] not in state:
        heads = sorted(k for k in state if k.endswith('.weight') and
                       state[k].dim() == 2)
        raise KeyError(f'no {keys[0]!r} in the checkpoint; 2-D weights: '
                       f'{heads[-5:]} (set --head-key)')
    rows = torch.as_tensor(indices, dtype=torch.long)
    for key in keys:
        if key not in state:
            continue
        if state[key].shape[0] != NUM_IN1K:
            raise ValueError(f'{key} has {state[key].shape[0]} rows, not '
                             f'the {NUM_IN1K} of an ImageNet-1k head')
        out[key] = state[key].index_select(0, rows).clone()
    return out


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Keep the head rows of the ImageNet-100 classes of an '
        'ImageNet-1k classifier checkpoint')
    parser.add_argument('src', help='ImageNet-1k checkpoint (path or URL)')
    parser.add_argument('dst', help='output checkpoint')
    wnids = parser.add_mutually_exclusive_group(required=True)
    wnids.add_argument('--synsets', help='file of the 1,000 ImageNet-1k '
                       'wnids (e.g. LOC_synset_mapping.txt)')
    wnids.add_argument('--imagenet-root', help='ImageNet-1k root whose '
                       'train/<wnid> folders give the wnids')
    parser.add_argument('--class-list', default=DEFAULT_CLASS_LIST,
                        help='the target classes, one wnid a line, in label '
                        'order (default: the ImageNet-100 list)')
    parser.add_argument('--head-key', default='head.fc',
                        help='prefix of the head weight and bias')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> List[int]:
    """Run the tool; returns the ImageNet-1k indices that were kept."""
    args = parse_args(argv)
    classes = read_wnids(args.class_list)
    indices = class_indices(
        classes, imagenet1k_wnids(args.synsets, args.imagenet_root))
    state = extract_state_dict(load_weights_only(args.src, 'src'), args.src,
                               'src')
    sliced = slice_head(state, indices, args.head_key)
    meta = dict(dataset_meta=dict(classes=classes),
                imagenet1k_indices=indices,
                source=osp.basename(args.src))
    dst_dir = osp.dirname(osp.abspath(args.dst))
    os.makedirs(dst_dir, exist_ok=True)
    torch.save(dict(state_dict=sliced, meta=meta), args.dst)
    print(f'{args.dst}: {len(indices)} classes, {args.head_key} rows '
          f'{indices[:5]}...')
    return indices


if __name__ == '__main__':
    main()
