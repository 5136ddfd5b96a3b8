"""Keep freed heap memory inside the process (glibc ``mallopt``).

A training step on the CPU allocates and frees the same activations every
iteration. With glibc's defaults, blocks above the mmap threshold (at most
32 MiB; a ResNet-18 stem output at batch 16 and 224 px is 51 MiB) are
``mmap``-ed and handed back to the kernel on ``free``, and the top of the
heap is trimmed, so every step page-faults its whole working set in again:
about 460,000 minor faults (1.8 GiB) per dual-student step at batch 16 and
224 px on a 2-core VM, where that step then cost 10 % to 39 % more than its
components (run to run; 0.7 % with memory retained, see
``docs/benchmark.md``). The dual-student step has the
larger working set (both students' graphs are alive at once), so it pays
more of this than a single-student step. Setting ``M_MMAP_MAX`` to 0 (serve
every block from the heap) and a large ``M_TRIM_THRESHOLD`` (do not give the
heap top back) lets the next step reuse the same pages: no faults, same
numbers. It is what ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=...`` in the
environment would do, applied from Python. Resident memory then stays at
the step's peak between steps (it would reach that peak every step anyway);
:func:`malloc_trim` gives the free part back on demand.

Nothing is changed on platforms without glibc (macOS, musl, Windows): the
functions return False there.
"""
import ctypes
import platform
from typing import Optional

__all__ = [
    'M_TRIM_THRESHOLD', 'M_MMAP_MAX', 'glibc', 'retain_freed_memory',
    'restore_default_malloc', 'malloc_trim'
]

#: ``mallopt`` parameter numbers from glibc's ``<malloc.h>``
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
#: glibc's defaults (``DEFAULT_MMAP_MAX``, ``DEFAULT_TRIM_THRESHOLD``)
_DEFAULT_MMAP_MAX = 65536
_DEFAULT_TRIM_THRESHOLD = 128 * 1024
#: the largest value ``mallopt`` takes (its argument is a C ``int``)
_INT_MAX = 2**31 - 1


def glibc() -> Optional[ctypes.CDLL]:
    """The process's C library if it is glibc, else None.

    Returns:
        ctypes.CDLL | None: The library (with ``mallopt``/``malloc_trim``).
    """
    if platform.system() != 'Linux' or platform.libc_ver()[0] != 'glibc':
        return None
    try:
        libc = ctypes.CDLL('libc.so.6')
    except OSError:
        return None
    if not (hasattr(libc, 'mallopt') and hasattr(libc, 'malloc_trim')):
        return None
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    libc.malloc_trim.restype = ctypes.c_int
    return libc


def retain_freed_memory(trim_threshold: int = _INT_MAX) -> bool:
    """Serve all blocks from the heap and keep freed memory for reuse.

    Args:
        trim_threshold (int): Free bytes at the heap top above which glibc
            still trims (``M_TRIM_THRESHOLD``, at most ``2**31 - 1``).
            Defaults to ``2**31 - 1``.

    Returns:
        bool: True if both settings were applied (glibc only).
    """
    if not 0 <= trim_threshold <= _INT_MAX:
        raise ValueError(f'trim_threshold must be in [0, {_INT_MAX}], got '
                         f'{trim_threshold}')
    libc = glibc()
    if libc is None:
        return False
    ok = libc.mallopt(M_MMAP_MAX, 0) == 1
    return bool(libc.mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1 and ok)


def restore_default_malloc() -> bool:
    """Put glibc's default ``M_MMAP_MAX`` and ``M_TRIM_THRESHOLD`` back.

    Returns:
        bool: True if applied (glibc only).
    """
    libc = glibc()
    if libc is None:
        return False
    ok = libc.mallopt(M_MMAP_MAX, _DEFAULT_MMAP_MAX) == 1
    return bool(libc.mallopt(M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD) == 1
                and ok)


def malloc_trim() -> bool:
    """Give the heap's free memory back to the kernel now.

    Returns:
        bool: True if glibc released some memory.
    """
    libc = glibc()
    return bool(libc is not None and libc.malloc_trim(0) == 1)
