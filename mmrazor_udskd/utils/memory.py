"""Peak tensor memory of a piece of work on the CPU.

torch's CPU allocator keeps no statistics (there is no CPU counterpart of
``torch.cuda.max_memory_allocated``), and the process's resident set also
counts what the C allocator keeps, fragments and hands back. The profiler,
with ``profile_memory=True``, records every allocation and free of a
tensor's storage with its size and time; their running sum is the bytes in
tensors, and its maximum is the peak the CUDA counter would report for the
same work.
"""
import os
from collections import Counter
from typing import Any, Callable, Tuple

import torch
from torch.profiler import ProfilerActivity, profile

__all__ = ['tensor_memory_curve', 'peak_tensor_bytes']


def tensor_memory_curve(fn: Callable[[], Any]) -> Tuple[int, int]:
    """Run ``fn`` under the profiler and sum its CPU allocations.

    Args:
        fn (Callable[[], Any]): The work (its result is dropped before the
            profiler stops, so frees of its outputs are counted).

    Returns:
        Tuple[int, int]: ``(peak, end)``: the largest rise of the bytes in
        CPU tensors above the bytes at the start, and the rise at the end
        (what ``fn`` left allocated). Memory that ``fn`` frees of blocks
        allocated before the profiler started is not subtracted (the peak
        is an upper bound then): torch reports the free of a block that an
        *earlier* profiled region allocated, so a free is counted only
        against a block of its size allocated in this region.
    """

    def run() -> None:
        fn()  # the result is dropped here, inside the profiled region

    # kineto prints a line at every profiler start and stop (and a GPU
    # query error on GPU-less machines) unless told otherwise; a user's own
    # setting wins
    os.environ.setdefault('KINETO_LOG_LEVEL', '99')

    with profile(activities=[ProfilerActivity.CPU],
                 profile_memory=True) as prof:
        run()
    events = sorted(
        (event.start_ns(), event.nbytes())
        for event in prof.profiler.kineto_results.events()
        if event.name() == '[memory]'
        and event.device_type() == torch.autograd.DeviceType.CPU)
    live: Counter = Counter()  # sizes allocated here, not yet freed
    current = peak = 0
    for _, nbytes in events:
        if nbytes > 0:
            live[nbytes] += 1
        elif live[-nbytes] > 0:
            live[-nbytes] -= 1
        else:
            continue  # allocated before this region started
        current += nbytes
        peak = max(peak, current)
    return peak, current


def peak_tensor_bytes(fn: Callable[[], Any]) -> int:
    """The peak rise of the bytes in CPU tensors while ``fn`` runs.

    Args:
        fn (Callable[[], Any]): The work.

    Returns:
        int: Peak bytes above the start (>= 0).
    """
    return tensor_memory_curve(fn)[0]
