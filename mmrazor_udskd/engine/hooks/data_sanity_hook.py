"""Check the data sets once, before the first training iteration."""
from typing import Any, Callable, Iterator, List, Optional, Tuple

import mmcv
from mmengine import fileio
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS
from mmengine.runner import BaseLoop

from ...datasets.data_checks import check_labels_in_range
from ...utils.validation import model_num_classes

__all__ = ['DataSanityHook']


@HOOKS.register_module()
class DataSanityHook(Hook):
    """Stop a run with bad data before it trains, with a message that names
    the dataloader, the sample and its file.

    At ``before_train``, for the train data set and (``check_val``) the
    validation data set:

    * it must not be empty;
    * every label must lie in ``[0, C)``, ``C`` the smallest class count of
      the model's heads (read from the annotations, no image is decoded);
    * (``verify_images``, off by default as it decodes every image) every
      image must decode; all corrupt files are listed at once.

    Corrupt images are otherwise reported when they are loaded, by
    ``SafeLoadImageFromFile`` (see ``mmrazor_udskd.datasets``).

    Args:
        check_val (bool): Check the validation data set too. Defaults to
            True.
        verify_images (bool): Decode every image once up front. Defaults to
            False.
        max_listed (int): Corrupt files listed in the message. Defaults to
            10.
    """

    priority = 'VERY_HIGH'

    def __init__(self, check_val: bool = True, verify_images: bool = False,
                 max_listed: int = 10) -> None:
        self.check_val = check_val
        self.verify_images = verify_images
        self.max_listed = max_listed

    @staticmethod
    def _unwrap(dataset: Any, field: str) -> Iterator[Tuple[Any, str]]:
        """The innermost data sets of (nested) dataset wrappers."""
        if hasattr(dataset, 'datasets'):  # ConcatDataset
            for i, inner in enumerate(dataset.datasets):
                yield from DataSanityHook._unwrap(inner,
                                                  f'{field}.datasets[{i}]')
        elif hasattr(getattr(dataset, 'dataset', None), '__len__'):
            # RepeatDataset, ClassBalancedDataset, ...
            yield from DataSanityHook._unwrap(dataset.dataset,
                                              f'{field}.dataset')
        else:
            yield dataset, field

    def _datasets(self, runner) -> Iterator[Tuple[Any, str]]:
        yield from self._unwrap(runner.train_dataloader.dataset,
                                'train_dataloader.dataset')
        loop = getattr(runner, '_val_loop', None)
        if self.check_val and isinstance(loop, BaseLoop) and \
                getattr(loop, 'dataloader', None) is not None:
            yield from self._unwrap(loop.dataloader.dataset,
                                    'val_dataloader.dataset')

    @staticmethod
    def _describe(dataset: Any) -> Callable[[int], str]:
        ann = getattr(dataset, 'ann_file', None)

        def describe(idx: int) -> str:
            info = dataset.get_data_info(idx)
            text = repr(info.get('img_path', f'index {idx}'))
            return text + (f'; ann_file {ann!r}' if ann else '')

        return describe

    def _verify(self, dataset: Any, field: str) -> None:
        """Decode every image of ``dataset``; raise listing the bad ones."""
        bad: List[str] = []
        for idx in range(len(dataset)):
            path = dataset.get_data_info(idx).get('img_path')
            if path is None:
                return  # not an image-file data set
            try:
                img = mmcv.imfrombytes(fileio.get(path))
            except Exception as err:  # noqa: BLE001 - any decode failure
                bad.append(f'{path} ({type(err).__name__})')
                continue
            if img is None:
                bad.append(path)
        if bad:
            listed = ', '.join(bad[:self.max_listed])
            more = len(bad) - self.max_listed
            raise ValueError(
                f'`{field}`: {len(bad)} corrupt or unreadable image file(s): '
                f'{listed}' + (f', ... and {more} more' if more > 0 else '') +
                '; remove or replace them')

    def before_train(self, runner) -> None:
        """Run the checks.

        Args:
            runner (Runner): The runner.
        """
        num_classes: Optional[int] = model_num_classes(runner.model)
        for dataset, field in self._datasets(runner):
            if hasattr(dataset, 'full_init'):
                dataset.full_init()
            if len(dataset) == 0:
                raise ValueError(f'`{field}` has no samples')
            if num_classes is not None and hasattr(dataset, 'get_data_info'):
                labels = [dataset.get_data_info(i).get('gt_label', 0)
                          for i in range(len(dataset))]
                check_labels_in_range(labels, num_classes, field,
                                      self._describe(dataset))
                classes = (getattr(dataset, 'metainfo', None)
                           or {}).get('classes')
                if classes and len(classes) < num_classes and \
                        get_rank() == 0:
                    print_log(f'`{field}` has {len(classes)} classes but the '
                              f'model predicts {num_classes}', 'current',
                              level=30)
            if self.verify_images and hasattr(dataset, 'get_data_info'):
                self._verify(dataset, field)
