"""scikit-learn's 8x8 handwritten digits as an mmpretrain data set.

The 1,797 real images of ``sklearn.datasets.load_digits`` (UCI optical
recognition of handwritten digits, 10 classes) ship inside scikit-learn, so
this data set needs no download. It backs the offline demo
(``tools/run_demo.py``) and the quick end-to-end tests.
"""
from functools import lru_cache
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

__all__ = ['DigitsDataset']

_INTERPOLATIONS = ('nearest', 'bilinear', 'bicubic', 'area')


@lru_cache(maxsize=1)
def _load_digits() -> Tuple[np.ndarray, np.ndarray]:
    """Read the bundled digits once per process.

    Returns:
        Tuple[np.ndarray, np.ndarray]: ``(images, labels)``; images are
        ``(1797, 8, 8)`` uint8 in [0, 255], labels ``(1797,)`` int64.
    """
    from sklearn.datasets import load_digits
    bunch = load_digits()
    # the raw values are stroke counts in 0..16
    images = np.rint(bunch.images * (255.0 / 16.0)).clip(0, 255)
    return images.astype(np.uint8), bunch.target.astype(np.int64)


def _split_indices(labels: np.ndarray, test_ratio: float,
                   seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """A deterministic stratified train/test split.

    Args:
        labels (np.ndarray): The labels of all samples.
        test_ratio (float): Fraction of every class that goes to the test
            split.
        seed (int): Seed of the split's own random generator.

    Returns:
        Tuple[np.ndarray, np.ndarray]: Train and test indices, each in a
        seeded random order (so that taking the first few gives a mix of
        classes).
    """
    from sklearn.model_selection import train_test_split
    all_idx = np.arange(len(labels))
    train_idx, test_idx = train_test_split(
        all_idx, test_size=test_ratio, stratify=labels, random_state=seed,
        shuffle=True)
    return np.asarray(train_idx), np.asarray(test_idx)


@DATASETS.register_module()
class DigitsDataset(BaseDataset):
    """The 8x8 handwritten digits of scikit-learn, upscaled, as RGB images.

    Every sample is a real 8x8 grey-level digit, scaled to ``[0, 255]``,
    resized to ``img_size`` x ``img_size`` and repeated over three channels,
    so mmpretrain's transforms and ``ClsDataPreprocessor`` treat it like any
    colour image. The data infos carry the image itself (``img``), so the
    pipeline must not start with ``LoadImageFromFile``.

    The train/test split is stratified and depends only on ``test_ratio``
    and ``seed``: every process (and every run) gets the same split.

    Args:
        split (str): ``'train'`` or ``'test'``. Defaults to ``'train'``.
        test_ratio (float): Fraction of each class held out for ``'test'``.
            Defaults to 0.2 (1,437 train / 360 test images).
        seed (int): Seed of the split. Defaults to 0.
        img_size (int): Output side length in pixels. Defaults to 32.
        interpolation (str): How to upscale: ``'nearest'``, ``'bilinear'``,
            ``'bicubic'`` or ``'area'``. Defaults to ``'bilinear'``.
        max_per_class (int, optional): Keep at most this many samples of each
            class (for quick runs); None keeps all. Defaults to None.
        pipeline (Sequence[Union[dict, callable]]): Transforms applied to each
            sample. Defaults to ``()``.
        test_mode (bool): Passed to :class:`mmpretrain.datasets.BaseDataset`.
            Defaults to False.
        **kwargs (Any): Other arguments of
            :class:`mmpretrain.datasets.BaseDataset` (e.g. ``indices``,
            ``serialize_data``, ``lazy_init``).
    """

    METAINFO = {'classes': tuple(str(i) for i in range(10))}

    def __init__(self,
                 split: str = 'train',
                 test_ratio: float = 0.2,
                 seed: int = 0,
                 img_size: int = 32,
                 interpolation: str = 'bilinear',
                 max_per_class: Optional[int] = None,
                 pipeline: Sequence[Union[dict, object]] = (),
                 test_mode: bool = False,
                 **kwargs: Any) -> None:
        if split not in ('train', 'test'):
            raise ValueError(
                f"split must be 'train' or 'test', got {split!r}")
        if not 0.0 < test_ratio < 1.0:
            raise ValueError(
                f'test_ratio must lie in (0, 1), got {test_ratio}')
        if img_size < 1:
            raise ValueError(f'img_size must be positive, got {img_size}')
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f'interpolation must be one of '
                             f'{_INTERPOLATIONS}, got {interpolation!r}')
        if max_per_class is not None and max_per_class < 1:
            raise ValueError(
                f'max_per_class must be positive, got {max_per_class}')
        self.split = split
        self.test_ratio = test_ratio
        self.seed = seed
        self.img_size = img_size
        self.interpolation = interpolation
        self.max_per_class = max_per_class
        kwargs.setdefault('ann_file', '')
        super().__init__(pipeline=pipeline, test_mode=test_mode, **kwargs)

    def _resize(self, image: np.ndarray) -> np.ndarray:
        """Upscale one 8x8 grey image and make it ``H x W x 3`` uint8."""
        if image.shape[0] != self.img_size or image.shape[1] != self.img_size:
            import mmcv
            image = mmcv.imresize(
                image, (self.img_size, self.img_size),
                interpolation=self.interpolation)
        return np.ascontiguousarray(
            np.repeat(image[:, :, None], 3, axis=2), dtype=np.uint8)

    def load_data_list(self) -> List[dict]:
        """Build the data infos of the chosen split.

        Returns:
            List[dict]: One dict per sample with ``img`` (``H x W x 3``
            uint8), ``gt_label`` (int), ``img_shape``, ``ori_shape`` and
            ``source_idx`` (the index in ``sklearn.datasets.load_digits``).
        """
        images, labels = _load_digits()
        train_idx, test_idx = _split_indices(labels, self.test_ratio,
                                             self.seed)
        indices = train_idx if self.split == 'train' else test_idx
        if self.max_per_class is not None:
            counts = np.zeros(len(self.METAINFO['classes']), dtype=np.int64)
            kept = []
            for idx in indices:
                if counts[labels[idx]] < self.max_per_class:
                    counts[labels[idx]] += 1
                    kept.append(idx)
            indices = np.asarray(kept, dtype=np.int64)
        data_list = []
        for idx in indices:
            img = self._resize(images[idx])
            data_list.append(
                dict(
                    img=img,
                    gt_label=int(labels[idx]),
                    img_shape=img.shape[:2],
                    ori_shape=img.shape[:2],
                    source_idx=int(idx)))
        return data_list

    def extra_repr(self) -> List[str]:
        """Extra lines for ``repr(dataset)``.

        Returns:
            List[str]: The split settings.
        """
        return [
            f'Split: \t{self.split} (test_ratio={self.test_ratio}, '
            f'seed={self.seed})',
            f'Image size: \t{self.img_size} ({self.interpolation})',
        ]
