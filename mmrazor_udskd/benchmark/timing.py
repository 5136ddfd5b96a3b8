"""Timing of benchmark cases: one timed unit of work and the interleaved
rounds that time several of them alike on a shared machine."""
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

__all__ = ['Case', 'sync', 'time_interleaved']


@dataclass
class Case:
    """One timed unit of work.

    Args:
        name (str): Case name (a key of
            :data:`~mmrazor_udskd.benchmark.report.DESCRIPTIONS`).
        run (Callable[[], Any]): The work that is timed.
        setup (Callable[[], None], optional): Untimed, before each ``run``.
        teardown (Callable[[], None], optional): Untimed, after each
            ``run``.
        static_bytes (int): Bytes the case's run keeps between iterations
            (parameters, buffers, optimizer state); 0 for components.
    """

    name: str
    run: Callable[[], Any]
    setup: Optional[Callable[[], None]] = None
    teardown: Optional[Callable[[], None]] = None
    static_bytes: int = 0

    def __call__(self, device: torch.device) -> Tuple[float, float]:
        """Run once; return the seconds ``run`` took (device synced).

        Args:
            device (torch.device): Device to synchronise.

        Returns:
            Tuple[float, float]: Wall-clock seconds and CPU seconds of this
            process (all its threads) of ``run``.
        """
        if self.setup is not None:
            self.setup()
        sync(device)
        start, cpu_start = time.perf_counter(), time.process_time()
        self.run()
        sync(device)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu_start
        if self.teardown is not None:
            self.teardown()
        return elapsed, cpu


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (no-op on CPU).

    Args:
        device (torch.device): The device.
    """
    if device.type == 'cuda':
        torch.cuda.synchronize(device)



def time_interleaved(
    cases: Sequence[Case], repeats: int, warmup: int, device: torch.device,
    log: Optional[Callable[[str], None]] = None
) -> Tuple[Dict[str, List[float]], Dict[str, List[float]]]:
    """Time every case ``repeats`` times, interleaved, after ``warmup``
    interleaved untimed rounds. Round ``r`` starts at case ``r mod
    len(cases)`` (rotated order).

    Args:
        cases (Sequence[Case]): The cases, run in this order every round.
        repeats (int): Timed rounds.
        warmup (int): Untimed rounds first.
        device (torch.device): Device to synchronise.
        log (Callable[[str], None], optional): Progress printer.

    Returns:
        Tuple[Dict[str, List[float]], Dict[str, List[float]]]: Wall-clock
        and process CPU seconds per round, by case name.
    """
    for round_idx in range(warmup):
        for case in cases:
            case(device)
        if log:
            log(f'warm-up round {round_idx + 1}/{warmup} done')
    times: Dict[str, List[float]] = {case.name: [] for case in cases}
    cpu_times: Dict[str, List[float]] = {case.name: [] for case in cases}
    for round_idx in range(repeats):
        # rotate the order each round (A B C, B C A, C A B, ...) so that no
        # case always follows the same one
        shift = round_idx % len(cases)
        for case in list(cases[shift:]) + list(cases[:shift]):
            wall, cpu = case(device)
            times[case.name].append(wall)
            cpu_times[case.name].append(cpu)
        if log:
            log(f'round {round_idx + 1}/{repeats}: ' + ', '.join(
                f'{k} {v[-1] * 1e3:.0f}' for k, v in times.items()) + ' ms')
    return times, cpu_times


