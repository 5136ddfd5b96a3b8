"""Image loading that fails with the file's name on a corrupt image."""
from typing import Optional

from mmcv.transforms import LoadImageFromFile
from mmpretrain.registry import TRANSFORMS

__all__ = ['SafeLoadImageFromFile', 'CorruptImageError']


class CorruptImageError(ValueError):
    """An image file that cannot be read or decoded."""


@TRANSFORMS.register_module()
class SafeLoadImageFromFile(LoadImageFromFile):
    """``LoadImageFromFile`` that stops with a clear error on a corrupt
    image.

    MMCV's loader reports an undecodable file with a bare ``assert`` (gone
    under ``python -O``, after which a ``None`` image fails later with an
    unrelated error) and an empty file with an OpenCV message that does not
    name the file. This variant raises :class:`CorruptImageError` naming the
    file and the reason in every case. Corrupt images are an error, not
    skipped: skipping would silently change the data set (and, in MMEngine,
    replace the sample by a random other one, which also shifts the random
    stream). To find every corrupt file before training, use
    ``DataSanityHook(verify_images=True)``. Same arguments as
    ``LoadImageFromFile``; ``ignore_empty=True`` keeps returning None.
    """

    def transform(self, results: dict) -> Optional[dict]:
        """Load the image of ``results['img_path']``.

        Args:
            results (dict): The sample's info.

        Returns:
            dict | None: ``results`` with ``img``, ``img_shape`` and
            ``ori_shape``; None only when ``ignore_empty``.

        Raises:
            CorruptImageError: If the file cannot be read or decoded.
        """
        filename = results['img_path']
        try:
            out = super().transform(results)
        except Exception as err:  # noqa: BLE001 - reported with the file
            if self.ignore_empty:
                return None
            reason = str(err).strip().splitlines()[-1] if str(err) else \
                type(err).__name__
            raise CorruptImageError(
                f'corrupt or unreadable image file {filename!r}: {reason}. '
                'Remove or replace it (DataSanityHook(verify_images=True) '
                'lists every such file before training)') from err
        if out is not None and out.get('img') is None:
            raise CorruptImageError(
                f'corrupt or unreadable image file {filename!r}: it decodes '
                'to no image')
        return out
