"""Undo what a test may change process-wide: torch's thread count, glibc's
allocator settings, the global RNG states and a process group."""
import random
from contextlib import contextmanager
from typing import Iterator, List

import numpy as np
import pytest
import torch
import torch.distributed as dist

from mmrazor_udskd.utils import malloc

__all__ = ['process_state_restored']


class _RecordingLibc:
    """glibc as :func:`mmrazor_udskd.utils.malloc.glibc` returns it, noting
    every ``mallopt`` call in ``calls``."""

    def __init__(self, libc, calls: List[tuple]) -> None:
        self._libc = libc
        self._calls = calls

    def mallopt(self, param: int, value: int) -> int:
        self._calls.append((param, value))
        return self._libc.mallopt(param, value)

    def __getattr__(self, name: str):
        return getattr(self._libc, name)


@contextmanager
def process_state_restored() -> Iterator[None]:
    """Leave the process as the block found it.

    Restores torch's intra-op thread count, the global RNG states of
    ``random``, NumPy and torch, and glibc's ``M_MMAP_MAX`` and
    ``M_TRIM_THRESHOLD`` (through :func:`malloc.restore_default_malloc`)
    when anything in the block called ``mallopt`` through
    :func:`malloc.glibc` (``CPUMallocHook`` of an in-process run,
    ``retain_freed_memory``). A block that leaves a ``torch.distributed``
    process group initialised fails, after the group is destroyed.

    Yields:
        None
    """
    threads = torch.get_num_threads()
    rng = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    real_glibc = malloc.glibc
    calls: List[tuple] = []

    def recording_glibc():
        libc = real_glibc()
        return None if libc is None else _RecordingLibc(libc, calls)

    malloc.glibc = recording_glibc
    try:
        yield
    finally:
        malloc.glibc = real_glibc
        if calls:
            malloc.restore_default_malloc()
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        random.setstate(rng[0])
        np.random.set_state(rng[1])
        torch.set_rng_state(rng[2])
        leaked = dist.is_available() and dist.is_initialized()
        if leaked:
            dist.destroy_process_group()
    if leaked:
        pytest.fail('a torch.distributed process group was left '
                    'initialised', pytrace=False)
