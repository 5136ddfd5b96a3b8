"""Memory probes of benchmark cases: the peak rise of a piece of work (CUDA
allocator counter, or the CPU process's resident set), peak bytes in tensors
from the profiler, and the bytes a model keeps between steps."""
import gc
import os
import re
from typing import Any, Callable, Dict, Optional, Sequence

import torch
from mmengine.optim import OptimWrapper, OptimWrapperDict
from torch import nn

from ..utils.malloc import malloc_trim
from ..utils.memory import peak_tensor_bytes
from .timing import Case

__all__ = [
    'MemoryProbe', 'state_bytes', 'measure_memory', 'measure_tensor_memory'
]


def _proc_status() -> Dict[str, int]:
    """``Vm*`` fields of ``/proc/self/status`` in bytes (empty if absent).

    Returns:
        Dict[str, int]: e.g. ``VmRSS``, ``VmHWM``.
    """
    try:
        with open('/proc/self/status') as fh:
            text = fh.read()
    except OSError:
        return {}
    return {k: int(v) * 1024 for k, v in
            re.findall(r'^(Vm\w+):\s+(\d+)\s+kB', text, flags=re.M)}


class MemoryProbe:
    """Peak memory of a piece of work above the memory in use before it.

    CUDA: ``torch.cuda.max_memory_allocated`` after
    ``reset_peak_memory_stats``, minus ``memory_allocated`` before. CPU:
    torch's CPU allocator keeps no statistics and ``tracemalloc`` does not
    see its allocations, so the process's resident set is used: freed heap
    memory is handed back (``malloc_trim``), the peak-RSS counter is reset
    by writing ``5`` to ``/proc/self/clear_refs`` (Linux >= 4.0), and the
    result is ``VmHWM`` after the work minus ``VmRSS`` before it.

    Args:
        device (torch.device): Where the work runs.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._base = 0

    @property
    def available(self) -> bool:
        """Whether this platform can measure (CUDA, or Linux procfs)."""
        if self.device.type == 'cuda':
            return True
        return bool(_proc_status()) and os.access('/proc/self/clear_refs',
                                                  os.W_OK)

    def start(self) -> None:
        """Mark the baseline."""
        gc.collect()
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            return
        malloc_trim()  # a no-op without glibc
        with open('/proc/self/clear_refs', 'w') as fh:
            fh.write('5')
        self._base = _proc_status()['VmRSS']

    def stop(self) -> int:
        """Bytes of the peak above the baseline.

        Returns:
            int: Peak rise in bytes (>= 0).
        """
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
        else:
            peak = _proc_status()['VmHWM']
        return max(peak - self._base, 0)


def state_bytes(model: nn.Module,
                optim_wrapper: Optional[OptimWrapper] = None) -> int:
    """Bytes of parameters, buffers and optimizer state (unique storages).

    Args:
        model (nn.Module): The model.
        optim_wrapper (OptimWrapper | OptimWrapperDict, optional): Its
            optimizer wrapper(s).

    Returns:
        int: Total bytes.
    """
    seen = set()
    total = 0

    def add(tensor: torch.Tensor) -> None:
        nonlocal total
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        if key not in seen:
            seen.add(key)
            total += storage.nbytes()

    for tensor in list(model.parameters()) + list(model.buffers()):
        add(tensor)
    if optim_wrapper is not None:
        wrappers = (optim_wrapper.values() if isinstance(
            optim_wrapper, OptimWrapperDict) else [optim_wrapper])
        for wrapper in wrappers:
            for state in wrapper.optimizer.state.values():
                for value in state.values():
                    if isinstance(value, torch.Tensor):
                        add(value)
    return total



def measure_memory(cases: Sequence[Case], device: torch.device,
                   runs: int = 2) -> Dict[str, Optional[int]]:
    """Peak memory rise of each case (the largest of ``runs`` runs).

    Args:
        cases (Sequence[Case]): The cases.
        device (torch.device): Device.
        runs (int): Runs per case. Defaults to 2.

    Returns:
        Dict[str, int | None]: Bytes by case name; None where the platform
        cannot measure.
    """
    probe = MemoryProbe(device)
    if not probe.available:
        return {case.name: None for case in cases}

    def measure(run: Callable[[], Any]) -> int:
        probe.start()
        run()
        return probe.stop()

    return _largest_per_case(cases, measure, runs)


def _largest_per_case(cases: Sequence[Case],
                      measure: Callable[[Callable[[], Any]], int],
                      runs: int = 1) -> Dict[str, Optional[int]]:
    """``measure(case.run)`` between each case's setup and teardown, the
    largest of ``runs`` results per case.

    Args:
        cases (Sequence[Case]): The cases.
        measure (Callable): Runs the work it is given and returns bytes.
        runs (int): Runs per case. Defaults to 1.

    Returns:
        Dict[str, int | None]: Bytes by case name.
    """
    peaks: Dict[str, Optional[int]] = {}
    for case in cases:
        best = 0
        for _ in range(runs):
            if case.setup is not None:
                case.setup()
            best = max(best, measure(case.run))
            if case.teardown is not None:
                case.teardown()
        peaks[case.name] = best
    return peaks


def measure_tensor_memory(cases: Sequence[Case], device: torch.device
                          ) -> Dict[str, Optional[int]]:
    """CPU: peak bytes in tensors of each case, from the profiler's
    allocation record (``mmrazor_udskd.utils.memory``): what
    ``torch.cuda.max_memory_allocated`` measures on a GPU, free of what the
    C allocator keeps or fragments. One profiled run per case.

    Args:
        cases (Sequence[Case]): The cases.
        device (torch.device): Device (on CUDA the allocator's counter is
            already this measure: None is returned).

    Returns:
        Dict[str, int | None]: Bytes by case name.
    """
    if device.type != 'cpu':
        return {case.name: None for case in cases}

    def measure(run: Callable[[], Any]) -> int:
        gc.collect()
        return peak_tensor_bytes(run)

    return _largest_per_case(cases, measure)


