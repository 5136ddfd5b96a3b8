"""tools/dataset_converters/make_imagenet100.py on a fake ImageNet tree."""
import hashlib
import importlib.util
import os
import os.path as osp
import subprocess
import sys
from typing import Dict, List

import numpy as np
import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO_ROOT, 'tools', 'dataset_converters',
                'make_imagenet100.py')
WNIDS_FILE = osp.join(REPO_ROOT, 'mmrazor_udskd', 'datasets',
                      'imagenet100_wnids.txt')
WNIDS_SHA256 = ('79f3f1552ccc478ce24bd934b4573625'
                'db584ddc1f4643ae23c994a94cb11397')
DISTRACTORS = ['n00000001', 'n09999999', 'n01440764']  # not in the list


def _load_tool():
    spec = importlib.util.spec_from_file_location('make_imagenet100', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


def _wnids() -> List[str]:
    with open(WNIDS_FILE) as f:
        return [line.strip() for line in f if line.strip()]


def _write_jpeg(path: str, seed: int) -> None:
    from PIL import Image
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format='JPEG')


def _make_tree(root: str, counts: Dict[str, int], split: str,
               flat: bool = False) -> Dict[str, str]:
    """Tiny JPEGs under ``root/split/<wnid>/`` (or flat ``root/split/``).

    Returns:
        Dict[str, str]: File name to wnid (for the flat layout's labels).
    """
    labels = {}
    seed = 0
    for wnid, n in counts.items():
        folder = osp.join(root, split) if flat else osp.join(root, split, wnid)
        os.makedirs(folder, exist_ok=True)
        for k in range(n):
            name = (f'ILSVRC2012_val_{len(labels) + 1:08d}.JPEG'
                    if flat else f'{wnid}_{k}.JPEG')
            _write_jpeg(osp.join(folder, name), seed)
            labels[name] = wnid
            seed += 1
    return labels


@pytest.fixture(scope='module')
def fake_imagenet(tmp_path_factory) -> str:
    """100 ImageNet-100 classes (2-3 images each) + distractor classes."""
    root = str(tmp_path_factory.mktemp('imagenet'))
    wnids = _wnids()
    train = {w: 2 + i % 2 for i, w in enumerate(wnids)}
    val = {w: 2 for w in wnids}
    for d in DISTRACTORS:
        train[d] = 3
        val[d] = 2
    _make_tree(root, train, 'train')
    _make_tree(root, val, 'val')
    # a non-image file is ignored
    open(osp.join(root, 'train', wnids[0], 'notes.txt'), 'w').close()
    return root


def _read_ann(path: str) -> List[tuple]:
    with open(path) as f:
        return [tuple(line.rsplit(' ', 1)) for line in f.read().splitlines()]


def test_package_class_list_sha256():
    with open(WNIDS_FILE, 'rb') as f:
        assert hashlib.sha256(f.read()).hexdigest() == WNIDS_SHA256
    wnids = _wnids()
    assert len(wnids) == 100 == len(set(wnids))
    assert all(w.startswith('n') and len(w) == 9 for w in wnids)
    assert tool.read_class_list(tool.default_class_list()) == wnids


def test_default_class_list_is_package_copy():
    assert osp.samefile(tool.default_class_list(), WNIDS_FILE)


def test_annotations(fake_imagenet):
    out = tool.main([fake_imagenet])
    assert out == osp.join(fake_imagenet, 'meta100')
    wnids = _wnids()
    with open(osp.join(out, 'classes.txt')) as f:
        assert f.read().split() == wnids
    train = _read_ann(osp.join(out, 'train.txt'))
    val = _read_ann(osp.join(out, 'val.txt'))
    n_train = sum(2 + i % 2 for i in range(100))
    assert len(train) == n_train
    assert len(val) == 200
    for lines in (train, val):
        labels = [int(label) for _, label in lines]
        assert labels == sorted(labels)  # grouped by label
        assert set(labels) == set(range(100))
        for path, label in lines:
            wnid, name = path.split('/')
            assert wnids.index(wnid) == int(label)  # class-list order
            assert name.endswith('.JPEG')
            assert wnid not in DISTRACTORS
    # paths are relative to train/ and exist
    for path, _ in train:
        assert osp.isfile(osp.join(fake_imagenet, 'train', path))
    assert not any('notes.txt' in p for p, _ in train)


def test_custom_dataset_loads_result(fake_imagenet):
    from mmpretrain.datasets import CustomDataset
    out = tool.main([fake_imagenet, '--out-dir',
                     osp.join(fake_imagenet, 'meta100')])
    n_train = sum(2 + i % 2 for i in range(100))
    for split, n in (('train', n_train), ('val', 200)):
        ds = CustomDataset(
            data_root=fake_imagenet,
            ann_file=f'meta100/{split}.txt',
            data_prefix=split,
            with_label=True,
            classes=osp.join(out, 'classes.txt'),
            pipeline=[dict(type='LoadImageFromFile'),
                      dict(type='PackInputs')])
        assert len(ds) == n
        assert len(ds.CLASSES) == 100
        assert set(ds.get_gt_labels().tolist()) == set(range(100))
        item = ds[0]
        assert tuple(item['inputs'].shape) == (3, 6, 6)


def test_config_paths_match_defaults():
    """configs/_base_/datasets/imagenet100_bs64.py reads what the tool
    writes by default (data_root = the ImageNet root)."""
    from mmengine.config import Config
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', '_base_', 'datasets',
                 'imagenet100_bs64.py'))
    train = cfg.train_dataloader.dataset
    val = cfg.val_dataloader.dataset
    assert (train.ann_file, train.data_prefix) == ('meta100/train.txt',
                                                   'train')
    assert (val.ann_file, val.data_prefix) == ('meta100/val.txt', 'val')


def test_missing_classes_error(tmp_path):
    wnids = _wnids()
    missing = [wnids[3], wnids[57]]
    counts = {w: 1 for w in wnids if w not in missing}
    _make_tree(str(tmp_path), counts, 'train')
    _make_tree(str(tmp_path), {w: 1 for w in wnids}, 'val')
    with pytest.raises(FileNotFoundError) as err:
        tool.main([str(tmp_path)])
    msg = str(err.value)
    assert '2 of the 100 classes' in msg
    assert missing[0] in msg and missing[1] in msg
    assert not osp.exists(osp.join(tmp_path, 'meta100', 'train.txt'))
    # the command line reports it without a traceback
    proc = subprocess.run([sys.executable, TOOL, str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert 'error:' in proc.stderr and missing[1] in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_custom_class_list_and_out_dir(fake_imagenet, tmp_path):
    wnids = _wnids()
    chosen = [wnids[10], wnids[2], DISTRACTORS[0]]
    class_list = tmp_path / 'classes.txt'
    class_list.write_text('# my classes\n' + '\n'.join(chosen) + '\n\n')
    out = tool.main([fake_imagenet, '--class-list', str(class_list),
                     '--out-dir', str(tmp_path / 'ann')])
    train = _read_ann(osp.join(out, 'train.txt'))
    got = sorted({(p.split('/')[0], int(lab)) for p, lab in train},
                 key=lambda x: x[1])
    assert got == [(w, i) for i, w in enumerate(chosen)]


def test_symlink_mode(fake_imagenet, tmp_path):
    from mmpretrain.datasets import CustomDataset
    out = str(tmp_path / 'in100')
    ann_dir = tool.main([fake_imagenet, '--mode', 'symlink', '--out-dir',
                         out])
    assert ann_dir == osp.join(out, 'meta100')
    wnids = _wnids()
    assert sorted(os.listdir(osp.join(out, 'train'))) == sorted(wnids)
    assert osp.islink(osp.join(out, 'train', wnids[0]))
    # a second run is idempotent
    tool.main([fake_imagenet, '--mode', 'symlink', '--out-dir', out])
    ds = CustomDataset(data_root=out, ann_file='meta100/val.txt',
                       data_prefix='val')
    assert len(ds) == 200
    scanned = CustomDataset(data_root=out, data_prefix='train')
    assert len(scanned.CLASSES) == 100


def _make_flat_val(tmp_path, label_format: str) -> str:
    root = str(tmp_path / 'flat')
    wnids = _wnids()
    _make_tree(root, {w: 1 for w in wnids + DISTRACTORS}, 'train')
    labels = _make_tree(root, {w: 2 for w in wnids + DISTRACTORS}, 'val',
                        flat=True)
    train_sorted = sorted(wnids + DISTRACTORS)
    if label_format == 'csv':
        with open(osp.join(root, 'LOC_val_solution.csv'), 'w') as f:
            f.write('ImageId,PredictionString\n')
            for name, wnid in labels.items():
                stem = osp.splitext(name)[0]
                f.write(f'{stem},{wnid} 1 2 30 40 {wnid} 5 6 7 8\n')
    else:
        os.makedirs(osp.join(root, 'meta'))
        with open(osp.join(root, 'meta', 'val.txt'), 'w') as f:
            for name, wnid in labels.items():
                f.write(f'{name} {train_sorted.index(wnid)}\n')
    return root


@pytest.mark.parametrize('label_format', ['csv', 'index'])
def test_flat_val(tmp_path, label_format):
    root = _make_flat_val(tmp_path, label_format)
    out = tool.main([root])
    val = _read_ann(osp.join(out, 'val.txt'))
    assert len(val) == 200
    wnids = _wnids()
    with open(osp.join(root, 'LOC_val_solution.csv')
              if label_format == 'csv' else osp.join(root, 'meta',
                                                     'val.txt')) as f:
        text = f.read()
    for name, label in val:
        assert '/' not in name
        assert osp.isfile(osp.join(root, 'val', name))
        wnid = wnids[int(label)]
        if label_format == 'csv':
            assert f'{osp.splitext(name)[0]},{wnid} ' in text
    # symlink mode sorts a flat val into <wnid>/ folders
    link_out = tool.main([root, '--mode', 'symlink'])
    linked = _read_ann(osp.join(link_out, 'val.txt'))
    assert len(linked) == 200
    for path, label in linked:
        assert path.split('/')[0] == wnids[int(label)]
        assert osp.isfile(osp.join(root, 'imagenet100', 'val', path))


def test_flat_val_without_labels(tmp_path):
    root = str(tmp_path / 'nolabels')
    wnids = _wnids()
    _make_tree(root, {w: 1 for w in wnids}, 'train')
    _make_tree(root, {w: 1 for w in wnids}, 'val', flat=True)
    with pytest.raises(FileNotFoundError, match='--val-labels'):
        tool.main([root])


def test_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match='not a folder'):
        tool.main([str(tmp_path / 'nothing')])
