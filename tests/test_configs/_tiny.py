"""Synthetic data in each format's real on-disk layout and tiny-net configs
for short runs of our configs through tools/train.py."""
import hashlib
import os
import os.path as osp
import pickle
from typing import Dict, List, Sequence

import numpy as np
from PIL import Image

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def cfg_path(rel: str) -> str:
    """Absolute path of a config under ``configs/``."""
    return osp.join(REPO_ROOT, 'configs', rel)


def tiny_net(width: int, num_classes: int, replace: bool = True) -> dict:
    """A one-stage ResNet_CIFAR classifier; ``replace``: it replaces a net
    of the base config (``_delete_``) instead of being new."""
    net = dict(
        _delete_=True, _scope_='mmpretrain', type='ImageClassifier',
        backbone=dict(type='ResNet_CIFAR', depth=18, stem_channels=width,
                      base_channels=width, num_stages=1, out_indices=(0, ),
                      strides=(1, ), dilations=(1, )),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=num_classes,
                  in_channels=width,
                  loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
                  topk=(1, 5)))
    if not replace:
        del net['_delete_']
    return net


def write_config(path: str, bases: Sequence[str], body: str = '') -> str:
    """A config of ``bases`` (absolute paths) plus ``body``; one epoch, tiny
    batches, every log line written."""
    lines = [f'_base_ = {list(bases)!r}',
             'train_cfg = dict(max_epochs=1, val_interval=1)',
             'train_dataloader = dict(batch_size=8)',
             'val_dataloader = dict(batch_size=8)',
             'test_dataloader = dict(batch_size=8)',
             'log_processor = dict(window_size=1)',
             'default_hooks = dict(checkpoint=dict(save_best=None))',
             body]
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return path


def udskd_models(num_classes: int, replace: bool = True) -> str:
    """Config lines: tiny teacher and students for a UDSKD config (or, not
    ``replace``, for one composed of the bases without any nets)."""
    return ('model = dict(teacher=' +
            repr(tiny_net(8, num_classes, replace)) +
            # a random teacher on purpose (the configs require a trained one)
            ", teacher_ckpt='random', students=dict(r18=" +
            repr(tiny_net(4, num_classes, replace)) + ', mbv2=' +
            repr(tiny_net(6, num_classes, replace)) + '))')


def dml_models(num_classes: int) -> str:
    """Config lines: tiny students for a DML (no-teacher) config."""
    return ('model = dict(students=dict(r18=' + repr(tiny_net(4, num_classes))
            + ', mbv2=' + repr(tiny_net(6, num_classes)) + '))')


def kd_models(num_classes: int) -> str:
    """Config lines: tiny teacher and student for a SingleTeacherDistill
    config."""
    return ('model = dict(teacher=' + repr(tiny_net(8, num_classes)) +
            ", teacher_ckpt='random', architecture=" +
            repr(tiny_net(4, num_classes)) + ')')


def _images(n: int, size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def write_image_tree(root: str, splits: Dict[str, int], num_classes: int,
                     size: int = 32) -> List[str]:
    """``<root>/<split>/<class>/<i>.png`` with ``splits[split]`` images per
    class. Returns the class folder names."""
    classes = [f'c{i:03d}' for i in range(num_classes)]
    for s, (split, per_class) in enumerate(splits.items()):
        imgs = _images(per_class * num_classes, size, seed=s)
        for i, img in enumerate(imgs):
            folder = osp.join(root, split, classes[i % num_classes])
            os.makedirs(folder, exist_ok=True)
            Image.fromarray(img).save(osp.join(folder, f'{i}.png'))
    return classes


def _dump(path: str, obj: dict) -> str:
    with open(path, 'wb') as f:
        pickle.dump(obj, f)
    with open(path, 'rb') as f:
        return hashlib.md5(f.read()).hexdigest()


def _batch(n: int, num_classes: int, seed: int, label_key: str) -> dict:
    # the official layout: uint8 rows of 3072 values (R, G, B planes)
    imgs = _images(n, 32, seed).transpose(0, 3, 1, 2).reshape(n, 3072)
    labels = [(seed * n + i) % num_classes for i in range(n)]
    return {'batch_label': f'batch {seed}', 'data': imgs,
            label_key: labels, 'filenames': [f'{i}.png' for i in range(n)]}


def write_cifar10(root: str, per_batch: int = 4,
                  test_size: int = 10) -> Dict[str, str]:
    """``<root>/cifar-10-batches-py/`` as in cifar-10-python.tar.gz: five
    ``data_batch_*`` pickles and ``test_batch`` (keys ``data``,
    ``labels``), ``batches.meta`` (``label_names``). Returns file -> md5."""
    folder = osp.join(root, 'cifar-10-batches-py')
    os.makedirs(folder, exist_ok=True)
    md5 = {}
    for i in range(1, 6):
        md5[f'data_batch_{i}'] = _dump(osp.join(folder, f'data_batch_{i}'),
                                       _batch(per_batch, 10, i, 'labels'))
    md5['test_batch'] = _dump(osp.join(folder, 'test_batch'),
                              _batch(test_size, 10, 0, 'labels'))
    md5['batches.meta'] = _dump(
        osp.join(folder, 'batches.meta'),
        {'label_names': [f'class{i}' for i in range(10)],
         'num_cases_per_batch': per_batch, 'num_vis': 3072})
    return md5


def write_cifar100(root: str, train_size: int = 20,
                   test_size: int = 10) -> Dict[str, str]:
    """``<root>/cifar-100-python/`` as in cifar-100-python.tar.gz: ``train``
    and ``test`` pickles (keys ``data``, ``fine_labels``,
    ``coarse_labels``) and ``meta`` (``fine_label_names``). Returns
    file -> md5."""
    folder = osp.join(root, 'cifar-100-python')
    os.makedirs(folder, exist_ok=True)
    md5 = {}
    for seed, (name, n) in enumerate((('train', train_size),
                                      ('test', test_size))):
        batch = _batch(n, 100, seed, 'fine_labels')
        # spread the labels over all 100 classes
        batch['fine_labels'] = [(37 * i + seed) % 100 for i in range(n)]
        batch['coarse_labels'] = [y // 5 for y in batch['fine_labels']]
        md5[name] = _dump(osp.join(folder, name), batch)
    md5['meta'] = _dump(
        osp.join(folder, 'meta'),
        {'fine_label_names': [f'fine{i}' for i in range(100)],
         'coarse_label_names': [f'coarse{i}' for i in range(20)]})
    return md5


def write_md5_override(folder: str, kind: str, md5: Dict[str, str]) -> str:
    """A module that swaps mmpretrain's md5 table of the official CIFAR files
    for the synthetic files' md5s, for ``custom_imports`` in a test config:
    the integrity check still runs, against these files. Returns its name.
    """
    cls = {'cifar10': 'CIFAR10', 'cifar100': 'CIFAR100'}[kind]
    meta = 'batches.meta' if kind == 'cifar10' else 'meta'
    lines = [
        f'from mmpretrain.datasets import {cls} as _cls',
        '_md5 = ' + repr(md5),
        '_cls.train_list = [[n, _md5[n]] for n, _ in _cls.train_list]',
        '_cls.test_list = [[n, _md5[n]] for n, _ in _cls.test_list]',
        f"_cls.meta = dict(_cls.meta, md5=_md5[{meta!r}])",
    ]
    name = f'synthetic_md5_{kind}'
    with open(osp.join(folder, name + '.py'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return name


def write_imagenet_ann(root: str, wnids: Sequence[str], per_class: int,
                       ann_dir: str = 'meta100', size: int = 40) -> None:
    """ImageNet's layout: ``train/<wnid>/<wnid>_<i>.JPEG`` and flat
    ``val/ILSVRC2012_val_<i>.JPEG``, with annotation files
    ``<ann_dir>/train.txt`` (``<wnid>/<file> <label>``) and
    ``<ann_dir>/val.txt`` (``<file> <label>``)."""
    os.makedirs(osp.join(root, ann_dir), exist_ok=True)
    train_lines, val_lines = [], []
    imgs = _images(2 * per_class * len(wnids), size, seed=7)
    k = 0
    for label, wnid in enumerate(wnids):
        os.makedirs(osp.join(root, 'train', wnid), exist_ok=True)
        for i in range(per_class):
            name = f'{wnid}/{wnid}_{i}.JPEG'
            Image.fromarray(imgs[k]).save(osp.join(root, 'train', name),
                                          format='JPEG')
            train_lines.append(f'{name} {label}')
            k += 1
    os.makedirs(osp.join(root, 'val'), exist_ok=True)
    for label in range(len(wnids)):
        for i in range(per_class):
            name = f'ILSVRC2012_val_{k:08d}.JPEG'
            Image.fromarray(imgs[k]).save(osp.join(root, 'val', name),
                                          format='JPEG')
            val_lines.append(f'{name} {label}')
            k += 1
    for split, lines in (('train', train_lines), ('val', val_lines)):
        with open(osp.join(root, ann_dir, f'{split}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
