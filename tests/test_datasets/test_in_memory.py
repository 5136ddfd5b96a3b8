"""InMemoryCustomDataset: the same samples as CustomDataset + LoadImageFromFile,
decoded once."""
import os.path as osp

import cv2
import numpy as np
import pytest

import mmrazor_udskd  # noqa: F401
from mmpretrain.registry import DATASETS
from mmrazor_udskd.datasets import InMemoryCustomDataset


def _write_tree(root, sizes=((5, 7), (5, 7), (5, 7))):
    """Two classes of random JPEGs and one PNG, with known pixels."""
    rng = np.random.default_rng(0)
    paths = []
    for cls in ('a_cls', 'b_cls'):
        for i, (h, w) in enumerate(sizes):
            d = osp.join(root, 'train', cls)
            import os
            os.makedirs(d, exist_ok=True)
            img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            ext = 'png' if i == 0 else 'jpg'
            p = osp.join(d, f'{i}.{ext}')
            cv2.imwrite(p, img)
            paths.append(p)
    return paths


@pytest.mark.parametrize('sizes', [((5, 7), (5, 7), (5, 7)),
                                   ((5, 7), (6, 4), (5, 7))])
def test_same_samples_as_load_image_from_file(tmp_path, sizes):
    _write_tree(str(tmp_path), sizes)
    ref = DATASETS.build(dict(
        type='CustomDataset', data_root=str(tmp_path), data_prefix='train',
        pipeline=[dict(type='LoadImageFromFile')]))
    mem = DATASETS.build(dict(
        type='InMemoryCustomDataset', data_root=str(tmp_path),
        data_prefix='train', pipeline=[]))
    assert len(mem) == len(ref) == 6
    for i in range(len(ref)):
        a, b = ref[i], mem[i]
        assert a['gt_label'] == b['gt_label']
        assert a['img_path'] == b['img_path']
        np.testing.assert_array_equal(a['img'], b['img'])
        assert a['img_shape'] == b['img_shape'] == a['img'].shape[:2]
        assert b['ori_shape'] == a['ori_shape']
    # one array when every image has the same shape, a list otherwise
    assert isinstance(mem._images, np.ndarray) == (len(set(sizes)) == 1)


def test_pipeline_cannot_touch_the_kept_images(tmp_path):
    _write_tree(str(tmp_path))

    class Zero:  # an in-place transform

        def __call__(self, results):
            results['img'][...] = 0
            return results

    mem = InMemoryCustomDataset(data_root=str(tmp_path),
                                data_prefix='train', pipeline=[Zero()])
    kept = mem._images[0].copy()
    assert kept.any()
    assert not mem[0]['img'].any()
    np.testing.assert_array_equal(mem._images[0], kept)


def test_refuses_a_pipeline_that_decodes_again(tmp_path):
    _write_tree(str(tmp_path))
    with pytest.raises(ValueError, match='remove `LoadImageFromFile`'):
        DATASETS.build(dict(
            type='InMemoryCustomDataset', data_root=str(tmp_path),
            data_prefix='train',
            pipeline=[dict(type='LoadImageFromFile'),
                      dict(type='PackInputs')]))


def test_in_memory_cifar_base_matches_the_jpeg_base():
    """The in-memory CIFAR-10 base gives the folder base's test samples."""
    from mmengine import Config
    from mmengine.registry import init_default_scope
    from mmrazor_udskd.utils.shared_data import extract_dataset
    root = extract_dataset('cifar10')
    if root is None:
        pytest.skip('needs ../shared/data/cifar10-jpg.tar.gz')
    init_default_scope('mmpretrain')
    base = 'configs/_base_/datasets/'
    a = Config.fromfile(base + 'cifar10_bs64.py').val_dataloader.dataset
    b = Config.fromfile(base + 'cifar10_inmem_bs64.py').val_dataloader.dataset
    for cfg in (a, b):
        cfg.data_root = root
        cfg.indices = 64  # mmengine's BaseDataset: the first 64 samples
    da, db = DATASETS.build(a), DATASETS.build(b)
    assert len(da) == len(db) == 64
    for i in (0, 17, 63):
        sa, sb = da[i], db[i]
        assert sa['data_samples'].gt_label == sb['data_samples'].gt_label
        assert sa['inputs'].equal(sb['inputs'])
