"""Helpers outside the models: config validation (``validation``),
weights-only checkpoint loading (``weights_only``), finite checks, and the
config, data, memory and allocator helpers of the tools."""
from .config import (apply_data_root, apply_precision_policy, enable_amp,
                     set_teacher_precision, teacher_from_checkpoint)
from .shared_data import (ARCHIVES, cache_dir, extract_dataset, make_subset,
                          shared_data_dir)

__all__ = [
    'enable_amp', 'set_teacher_precision', 'apply_precision_policy',
    'apply_data_root', 'teacher_from_checkpoint', 'ARCHIVES', 'cache_dir',
    'extract_dataset', 'make_subset', 'shared_data_dir'
]
