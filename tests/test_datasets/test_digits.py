"""DigitsDataset: scikit-learn's real 8x8 digits as an mmpretrain data set."""
import hashlib
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest

import mmrazor_udskd  # noqa: F401  (registrations)
from mmrazor_udskd.datasets import DigitsDataset

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _source_idx(dataset: DigitsDataset) -> list:
    return [
        dataset.get_data_info(i)['source_idx'] for i in range(len(dataset))
    ]


def _labels(dataset: DigitsDataset) -> np.ndarray:
    return np.array(
        [dataset.get_data_info(i)['gt_label'] for i in range(len(dataset))])


def test_split_sizes():
    train = DigitsDataset(split='train')
    test = DigitsDataset(split='test')
    assert len(train) == 1437
    assert len(test) == 360
    assert len(train) + len(test) == 1797
    half = DigitsDataset(split='test', test_ratio=0.5)
    assert len(half) in (898, 899)


def test_no_overlap_and_full_cover():
    train = set(_source_idx(DigitsDataset(split='train')))
    test = set(_source_idx(DigitsDataset(split='test')))
    assert not train & test
    assert train | test == set(range(1797))


def test_stratified_labels():
    for split in ('train', 'test'):
        labels = _labels(DigitsDataset(split=split))
        assert labels.dtype.kind == 'i'
        assert labels.min() == 0 and labels.max() == 9
        counts = np.bincount(labels, minlength=10)
        # every class keeps ~its share (the classes hold 174..183 images)
        share = counts / counts.sum()
        assert np.all(np.abs(share - 0.1) < 0.01), counts
    ds = DigitsDataset(split='train')
    assert ds.metainfo['classes'] == tuple(str(i) for i in range(10))
    assert ds.CLASSES == tuple(str(i) for i in range(10))


def test_deterministic_in_process():
    a = DigitsDataset(split='train', seed=0)
    b = DigitsDataset(split='train', seed=0)
    assert _source_idx(a) == _source_idx(b)
    assert np.array_equal(a.get_data_info(5)['img'], b.get_data_info(5)['img'])
    c = DigitsDataset(split='train', seed=1)
    assert _source_idx(a) != _source_idx(c)
    assert len(c) == len(a)


def _split_digest(seed: int) -> str:
    ds = DigitsDataset(split='test', seed=seed)
    return hashlib.sha256(str(_source_idx(ds)).encode()).hexdigest()


@pytest.mark.slow
def test_deterministic_across_processes():
    code = ('import hashlib, mmrazor_udskd;'
            'from mmrazor_udskd.datasets import DigitsDataset;'
            'ds = DigitsDataset(split="test", seed=0);'
            'idx = [ds.get_data_info(i)["source_idx"]'
            '       for i in range(len(ds))];'
            'print(hashlib.sha256(str(idx).encode()).hexdigest())')
    out = subprocess.run([sys.executable, '-W', 'ignore', '-c', code],
                         cwd=REPO_ROOT, capture_output=True, text=True,
                         check=True,
                         env=dict(os.environ, PYTHONHASHSEED='123'))
    assert out.stdout.strip().splitlines()[-1] == _split_digest(0)


@pytest.mark.parametrize('img_size', [8, 16, 32])
def test_image_shape_and_dtype(img_size):
    ds = DigitsDataset(split='test', img_size=img_size)
    info = ds.get_data_info(0)
    img = info['img']
    assert img.shape == (img_size, img_size, 3)
    assert img.dtype == np.uint8
    assert np.array_equal(img[..., 0], img[..., 1])
    assert np.array_equal(img[..., 0], img[..., 2])
    assert info['img_shape'] == (img_size, img_size)
    allimg = np.stack([ds.get_data_info(i)['img'] for i in range(len(ds))])
    assert allimg.max() > 200 and allimg.min() == 0  # full [0, 255] range


def test_real_digits_content():
    """The pixels are sklearn's digits (8x8 grid, values 0..16 scaled)."""
    from sklearn.datasets import load_digits
    raw = load_digits()
    ds = DigitsDataset(split='train', img_size=8)
    for i in (0, 100, 1000):
        info = ds.get_data_info(i)
        src = info['source_idx']
        expected = np.rint(raw.images[src] * 255 / 16).astype(np.uint8)
        assert np.array_equal(info['img'][..., 0], expected)
        assert info['gt_label'] == raw.target[src]
    # nearest upscaling keeps the 8x8 blocks
    big = DigitsDataset(split='train', img_size=16, interpolation='nearest')
    small = ds.get_data_info(0)['img'][..., 0]
    assert np.array_equal(big.get_data_info(0)['img'][::2, ::2, 0], small)


def test_max_per_class():
    ds = DigitsDataset(split='train', max_per_class=16)
    assert len(ds) == 160
    assert np.all(np.bincount(_labels(ds), minlength=10) == 16)
    # a prefix of the full split's order
    full = _source_idx(DigitsDataset(split='train'))
    sub = _source_idx(ds)
    assert sub == [i for i in full if i in set(sub)]


def test_invalid_arguments():
    with pytest.raises(ValueError, match='split'):
        DigitsDataset(split='val')
    with pytest.raises(ValueError, match='test_ratio'):
        DigitsDataset(test_ratio=1.5)
    with pytest.raises(ValueError, match='interpolation'):
        DigitsDataset(interpolation='lanczos9')
    with pytest.raises(ValueError, match='max_per_class'):
        DigitsDataset(max_per_class=0)


def test_config_pipeline_and_registry():
    """The base config's datasets build from the registry and their
    pipelines (no LoadImageFromFile) produce packed CHW inputs."""
    from mmengine.config import Config
    from mmpretrain.registry import DATASETS
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', '_base_', 'datasets',
                 'digits_bs64.py'))
    train = DATASETS.build(cfg.train_dataloader.dataset)
    test = DATASETS.build(cfg.val_dataloader.dataset)
    assert isinstance(train, DigitsDataset)
    assert (len(train), len(test)) == (1437, 360)
    size = cfg.img_size
    for ds in (train, test):
        item = ds[3]
        assert tuple(item['inputs'].shape) == (3, size, size)
        assert 0 <= int(item['data_samples'].gt_label) <= 9
    assert cfg.train_dataloader.batch_size == 64
    assert cfg.train_dataloader.num_workers == 0
    assert all(t['type'] != 'RandomFlip' for t in cfg.train_pipeline)
    assert cfg.val_evaluator == dict(type='Accuracy', topk=(1, 5))


def test_train_mean_std_match_config():
    from mmengine.config import Config
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', '_base_', 'datasets',
                 'digits_bs64.py'))
    ds = DigitsDataset(split='train', img_size=cfg.img_size)
    pixels = np.stack([
        ds.get_data_info(i)['img'] for i in range(len(ds))
    ]).astype(np.float64)
    assert abs(pixels.mean() - cfg.data_preprocessor.mean[0]) < 1.0
    assert abs(pixels.std() - cfg.data_preprocessor.std[0]) < 1.0
