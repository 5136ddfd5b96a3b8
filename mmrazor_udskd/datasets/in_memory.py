"""A folder-tree image data set decoded once and kept in memory.

For small images (CIFAR's 32 px, Tiny-ImageNet's 64 px) decoding a JPEG costs
more than the augmentations that follow it, and on a CPU the data loader can
take longer than the training step. :class:`InMemoryCustomDataset` reads the
same ``<root>/<prefix>/<class>/*.jpg`` trees as mmpretrain's
``CustomDataset``, decodes every image once when the data set is built, and
hands the decoded array to the pipeline, which therefore starts *after*
``LoadImageFromFile``. The pixels equal what ``LoadImageFromFile`` gives.
"""
from typing import Any, Dict, List, Optional

import mmcv
import numpy as np
from mmengine import fileio
from mmengine.logging import MMLogger
from mmpretrain.datasets import CustomDataset
from mmpretrain.registry import DATASETS

__all__ = ['InMemoryCustomDataset', 'decode_images']


def decode_images(paths: List[str], color_type: str = 'color',
                  imdecode_backend: str = 'cv2') -> List[np.ndarray]:
    """Decode image files the way mmcv's ``LoadImageFromFile`` does.

    Args:
        paths (List[str]): Image file paths.
        color_type (str): ``flag`` of :func:`mmcv.imfrombytes`. Defaults to
            ``'color'`` (BGR, 3 channels), ``LoadImageFromFile``'s default.
        imdecode_backend (str): Decoding backend. Defaults to ``'cv2'``.

    Returns:
        List[np.ndarray]: One ``uint8`` ``H x W x C`` array per path.
    """
    return [mmcv.imfrombytes(fileio.get(p), flag=color_type,
                             backend=imdecode_backend) for p in paths]


@DATASETS.register_module()
class InMemoryCustomDataset(CustomDataset):
    """mmpretrain's ``CustomDataset`` with every image decoded once.

    The images are decoded when the data set is fully initialised and kept
    in one array (when all have the same shape) or a list. Every sample the
    pipeline receives already holds ``img``, ``img_shape`` and
    ``ori_shape``, so the pipeline must not start with
    ``LoadImageFromFile`` (that would decode again); such a pipeline is
    refused with a message that says what to remove.

    Memory: ``N x H x W x 3`` bytes, e.g. 184 MB for all 60,000 CIFAR-10
    images. Loader workers share the array with the main process (fork,
    copy-on-write).

    Args:
        *args: Positional arguments of ``CustomDataset``.
        color_type (str): Decoding flag, as ``LoadImageFromFile``'s.
            Defaults to ``'color'``.
        imdecode_backend (str): As ``LoadImageFromFile``'s. Defaults to
            ``'cv2'``.
        **kwargs: Keyword arguments of ``CustomDataset`` (``data_root``,
            ``data_prefix``, ``pipeline``, ``classes``, ...).
    """

    def __init__(self, *args: Any, color_type: str = 'color',
                 imdecode_backend: str = 'cv2', **kwargs: Any) -> None:
        self.color_type = color_type
        self.imdecode_backend = imdecode_backend
        self._images: Optional[Any] = None
        pipeline = kwargs.get('pipeline') or []
        first = pipeline[0] if len(pipeline) else None
        name = first.get('type') if isinstance(first, dict) else \
            type(first).__name__
        if isinstance(name, str) and name.endswith('LoadImageFromFile'):
            raise ValueError(
                'InMemoryCustomDataset decodes the images itself: remove '
                '`LoadImageFromFile` from the start of its pipeline')
        super().__init__(*args, **kwargs)

    def full_init(self) -> None:
        """Build the data list, then decode every image once."""
        if self._fully_initialized:
            return
        super().full_init()
        paths = [super(InMemoryCustomDataset, self).get_data_info(i)
                 ['img_path'] for i in range(len(self))]
        images = decode_images(paths, self.color_type, self.imdecode_backend)
        shapes = {im.shape for im in images}
        self._images = np.stack(images) if len(shapes) == 1 else images
        nbytes = sum(im.nbytes for im in images)
        MMLogger.get_current_instance().info(
            f'InMemoryCustomDataset: {len(images)} images decoded once '
            f'({nbytes / 2**20:.1f} MiB)')

    def get_data_info(self, idx: int) -> Dict[str, Any]:
        """The sample's info with its decoded image.

        Args:
            idx (int): Sample index.

        Returns:
            Dict[str, Any]: ``CustomDataset``'s info plus ``img`` (a copy,
            so in-place transforms never touch the kept array),
            ``img_shape`` and ``ori_shape``.
        """
        info = super().get_data_info(idx)
        img = np.array(self._images[idx], copy=True)
        info.update(img=img, img_shape=img.shape[:2],
                    ori_shape=img.shape[:2])
        return info
