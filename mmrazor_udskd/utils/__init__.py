"""Helpers outside the models: config validation (``validation``),
weights-only checkpoint loading (``weights_only``), finite checks, and the
config, data, memory and allocator helpers of the tools."""
from .config import apply_data_root, enable_amp, teacher_from_checkpoint
from .shared_data import (ARCHIVES, cache_dir, extract_dataset, make_subset,
                          shared_data_dir)

__all__ = [
    'enable_amp', 'apply_data_root', 'teacher_from_checkpoint', 'ARCHIVES',
    'cache_dir', 'extract_dataset', 'make_subset', 'shared_data_dir'
]
