"""Small helpers shared by the tools and tests."""
from .config import apply_data_root, enable_amp
from .shared_data import (ARCHIVES, cache_dir, extract_dataset, make_subset,
                          shared_data_dir)

__all__ = [
    'enable_amp', 'apply_data_root', 'ARCHIVES', 'cache_dir',
    'extract_dataset', 'make_subset', 'shared_data_dir'
]
