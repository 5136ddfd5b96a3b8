"""The benchmark's report: per-case medians, throughput and memory, the
ratios of the dual run to MMRazor's KD and to its component floor, and the
Markdown tables."""
import math
import statistics
from typing import Any, Callable, Dict, List, Optional

__all__ = ['DESCRIPTIONS', 'summarize', 'to_markdown']

#: what each case measures (for the table)
DESCRIPTIONS: Dict[str, str] = {
    'kd_r18': '(a) MMRazor KD R50->R18, train_step',
    'kd_mbv2': '(b) MMRazor KD R50->MBv2, train_step',
    'dual': '(c) UDSKD R50->R18+MBv2, train_step',
    'teacher_fwd': 'component: R50 teacher forward (no grad)',
    'r18_step': 'component: R18 fwd+bwd+SGD step',
    'mbv2_step': 'component: MBv2 fwd+bwd+SGD step',
    'mbv2_step_plain': 'component: MBv2 step of (b)\'s student (no '
                       'recomputation)',
    'preprocess': 'component: data preprocessor',
    'val_single': 'val: one student predict (KD R18 val_step)',
    'val_kd': 'val: KD loop (student + teacher predict)',
    'val_dual_students': 'val: predict_all, students + ensemble',
    'val_dual': 'val: predict_all, students + ensemble + teacher',
}

_MiB = float(2**20)


def _ratio(num: float, den: float) -> float:
    """``num / den`` (NaN when ``den`` is 0)."""
    return num / den if den else float('nan')


def _train_ratios(
        times: Dict[str, List[float]],
        reduce: Callable[[List[float]], float] = statistics.median
) -> Dict[str, Any]:
    """The training ratios of one timing (wall-clock or CPU).

    Args:
        times (Dict[str, List[float]]): Seconds per round by case.
        reduce (Callable[[List[float]], float]): How the rounds of a case
            are summarised: ``statistics.median`` (default) or ``min`` (the
            least disturbed round, on a shared machine the most repeatable
            estimate of the intrinsic cost).

    Returns:
        Dict[str, Any]: ``dual_over_kd_r18``,
        ``dual_over_kd_r18_plus_kd_mbv2``, ``floor_ratio`` (``(teacher_fwd
        + r18_step + mbv2_step) / (teacher_fwd + r18_step)``),
        ``dual_vs_floor`` (the first over the floor), the overheads of the
        full steps over their components, and the per-round values with
        their median.
    """
    med = {k: reduce(v) for k, v in times.items() if v}

    def floor(t: float, a: float, b: float) -> float:
        return _ratio(t + a + b, t + a)

    out: Dict[str, Any] = {}
    out['dual_over_kd_r18'] = _ratio(med['dual'], med['kd_r18'])
    out['dual_over_kd_r18_plus_kd_mbv2'] = _ratio(
        med['dual'], med['kd_r18'] + med['kd_mbv2'])
    out['floor_ratio'] = floor(med['teacher_fwd'], med['r18_step'],
                               med['mbv2_step'])
    out['dual_vs_floor'] = _ratio(out['dual_over_kd_r18'],
                                  out['floor_ratio'])
    if 'mbv2_step_plain' in med:
        # the floor without recomputation: what the dual run would cost
        # if it kept every activation
        out['plain_floor_ratio'] = floor(med['teacher_fwd'], med['r18_step'],
                                         med['mbv2_step_plain'])
        out['dual_vs_plain_floor'] = _ratio(out['dual_over_kd_r18'],
                                            out['plain_floor_ratio'])
    components = med['teacher_fwd'] + med['r18_step'] + med['mbv2_step']
    out['dual_overhead_ms'] = (med['dual'] - components) * 1e3
    out['dual_overhead_pct'] = 100 * _ratio(med['dual'] - components,
                                            components)
    kd_components = med['teacher_fwd'] + med['r18_step']
    out['kd_r18_overhead_ms'] = (med['kd_r18'] - kd_components) * 1e3
    out['kd_r18_overhead_pct'] = 100 * _ratio(med['kd_r18'] - kd_components,
                                              kd_components)
    # the same round by round (a round's cases ran back to back)
    rounds = range(len(times['dual']))
    per_round = [_ratio(times['dual'][i], times['kd_r18'][i])
                 for i in rounds]
    floors = [floor(times['teacher_fwd'][i], times['r18_step'][i],
                    times['mbv2_step'][i]) for i in rounds]
    vs_floor = [_ratio(a, b) for a, b in zip(per_round, floors)]
    out['per_round_dual_over_kd_r18'] = per_round
    out['per_round_floor_ratio'] = floors
    out['per_round_dual_vs_floor'] = vs_floor
    out['median_per_round_dual_vs_floor'] = statistics.median(vs_floor)
    return out


def summarize(times: Dict[str, List[float]],
              cpu_times: Dict[str, List[float]],
              peaks: Dict[str, Optional[int]],
              static: Dict[str, int], batch_size: int,
              tensor_peaks: Optional[Dict[str, Optional[int]]] = None
              ) -> Dict[str, Any]:
    """Medians, throughput, memory and the ratios.

    Args:
        times (Dict[str, List[float]]): Wall-clock seconds per round by
            case.
        cpu_times (Dict[str, List[float]]): Process CPU seconds per round by
            case (less sensitive to other processes' load on a CPU run).
        peaks (Dict[str, int | None]): Peak memory rise by case.
        static (Dict[str, int]): Kept bytes by case.
        batch_size (int): Images per iteration.
        tensor_peaks (Dict[str, int | None], optional): CPU: peak bytes in
            tensors by case (:func:`measure_tensor_memory`). Defaults to
            None.

    Returns:
        Dict[str, Any]: ``cases`` (per-case numbers), ``ratios`` (from the
        wall-clock medians, plus memory and validation), ``min_ratios``
        (the training ratios from each case's fastest round) and
        ``cpu_ratios`` (from the CPU-time medians).
    """
    med = {k: statistics.median(v) for k, v in times.items() if v}
    cases = {}
    for name, values in times.items():
        if not values:
            continue
        peak = peaks.get(name)
        tensor_peak = (tensor_peaks or {}).get(name)
        cases[name] = dict(
            description=DESCRIPTIONS.get(name, name),
            ms=[v * 1e3 for v in values],
            median_ms=med[name] * 1e3,
            min_ms=min(values) * 1e3,
            max_ms=max(values) * 1e3,
            cpu_median_ms=statistics.median(cpu_times[name]) * 1e3,
            images_per_s=_ratio(batch_size, med[name]),
            peak_mem_mib=None if peak is None else peak / _MiB,
            static_mib=static.get(name, 0) / _MiB,
            est_run_peak_mib=None if peak is None else
            (peak + static.get(name, 0)) / _MiB,
            tensor_peak_mib=None if tensor_peak is None else
            tensor_peak / _MiB,
            est_run_tensor_peak_mib=None if tensor_peak is None else
            (tensor_peak + static.get(name, 0)) / _MiB)

    ratios = _train_ratios(times)
    ratios['time_target_met'] = bool(ratios['dual_vs_floor'] <= 1.05)
    if 'dual_vs_plain_floor' in ratios:
        ratios['time_target_met_plain'] = bool(
            ratios['dual_vs_plain_floor'] <= 1.05)
    mem = {k: cases[k]['peak_mem_mib'] for k in ('dual', 'kd_r18')}
    if None not in mem.values():
        ratios['peak_mem_dual_over_kd_r18'] = _ratio(mem['dual'],
                                                     mem['kd_r18'])
        ratios['est_run_peak_dual_over_kd_r18'] = _ratio(
            cases['dual']['est_run_peak_mib'],
            cases['kd_r18']['est_run_peak_mib'])
        ratios['memory_target_met'] = bool(
            ratios['est_run_peak_dual_over_kd_r18'] <= 1.3)
        if cases['kd_mbv2']['est_run_peak_mib'] is not None:
            # against the single-student KD run of the hungrier student
            ratios['est_run_peak_dual_over_kd_mbv2'] = _ratio(
                cases['dual']['est_run_peak_mib'],
                cases['kd_mbv2']['est_run_peak_mib'])
    tensor = {k: cases[k]['est_run_tensor_peak_mib']
              for k in ('dual', 'kd_r18', 'kd_mbv2')}
    if None not in tensor.values():
        ratios['tensor_run_peak_dual_over_kd_r18'] = _ratio(
            tensor['dual'], tensor['kd_r18'])
        ratios['tensor_run_peak_dual_over_kd_mbv2'] = _ratio(
            tensor['dual'], tensor['kd_mbv2'])
        ratios['tensor_memory_target_met'] = bool(
            ratios['tensor_run_peak_dual_over_kd_r18'] <= 1.3)
    if 'val_dual' in med:
        ratios['val_dual_over_val_kd'] = _ratio(med['val_dual'],
                                                med['val_kd'])
        ratios['val_dual_over_val_single'] = _ratio(med['val_dual'],
                                                    med['val_single'])
        ratios['val_dual_students_over_val_single'] = _ratio(
            med['val_dual_students'], med['val_single'])
    return dict(cases=cases, ratios=ratios,
                min_ratios=_train_ratios(times, min),
                cpu_ratios=_train_ratios(cpu_times))


def _fmt(value: Optional[float], digits: int = 0) -> str:
    """A number for the table (``-`` for None)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '-'
    return f'{value:.{digits}f}'


def _precision_line(meta: Dict[str, Any]) -> str:
    """``--precision`` and what each run's models ran in.

    Args:
        meta (Dict[str, Any]): The result's ``meta``.

    Returns:
        str: One Markdown line.
    """
    runs = meta.get('precisions') or {}
    parts = [f"{run}: " + ', '.join(f'{k} {v}' for k, v in models.items())
             for run, models in runs.items()]
    native = meta.get('native_bf16')
    return (f"precision `{meta.get('precision', 'fp32')}`"
            + (f" (native bf16: {'yes' if native else 'no'})"
               if native is not None else '')
            + (' - ' + '; '.join(parts) if parts else ''))


def to_markdown(result: Dict[str, Any]) -> str:
    """The result as Markdown tables.

    Args:
        result (Dict[str, Any]): What :func:`run_benchmark` returns.

    Returns:
        str: Markdown.
    """
    meta = result['meta']
    lines = [
        f"`{meta['command']}`", '',
        f"device {meta['device_name']}, torch {meta['torch']}, "
        f"{meta['threads']} threads, batch {meta['batch_size']}, "
        f"{meta['resolution']}x{meta['resolution']}, amp {meta['amp']}, "
        f"channels_last {meta['channels_last']}, compile {meta['compile']}, "
        f"malloc {meta.get('malloc', 'default')}"
        f"{' (retained)' if meta.get('malloc_retained') else ''}, "
        f"{meta['repeats']} interleaved rounds after {meta['warmup']} "
        f"warm-up; load average {meta['load_before'][0]:.2f} before, "
        f"{meta['load_after'][0]:.2f} after", '',
        _precision_line(meta), '',
        '| case | what | median ms/iter (min-max) | CPU ms | images/s | '
        'peak mem rise (MiB) | peak in tensors (MiB) | static (MiB) |',
        '| --- | --- | --- | --- | --- | --- | --- | --- |'
    ]
    for name, row in result['cases'].items():
        lines.append(
            f"| `{name}` | {row['description']} | "
            f"{_fmt(row['median_ms'])} ({_fmt(row['min_ms'])}-"
            f"{_fmt(row['max_ms'])}) | {_fmt(row['cpu_median_ms'])} | "
            f"{_fmt(row['images_per_s'], 1)} | "
            f"{_fmt(row['peak_mem_mib'])} | "
            f"{_fmt(row.get('tensor_peak_mib'))} | "
            f"{_fmt(row['static_mib']) if row['static_mib'] else '-'} |")
    r, c, m = result['ratios'], result['cpu_ratios'], result['min_ratios']

    def span(values: List[float]) -> str:
        return f'{_fmt(min(values), 2)}-{_fmt(max(values), 2)}'

    lines += [
        '', '| ratio | wall clock, medians | wall clock, fastest rounds | '
        'CPU time, medians |', '| --- | --- | --- | --- |',
        f"| dual / KD-R18 | {_fmt(r['dual_over_kd_r18'], 3)} (rounds "
        f"{span(r['per_round_dual_over_kd_r18'])}) | "
        f"{_fmt(m['dual_over_kd_r18'], 3)} | "
        f"{_fmt(c['dual_over_kd_r18'], 3)} |",
        f"| dual / (KD-R18 + KD-MBv2) | "
        f"{_fmt(r['dual_over_kd_r18_plus_kd_mbv2'], 3)} | "
        f"{_fmt(m['dual_over_kd_r18_plus_kd_mbv2'], 3)} | "
        f"{_fmt(c['dual_over_kd_r18_plus_kd_mbv2'], 3)} |",
        f"| floor: (teacher + R18 + MBv2 steps) / (teacher + R18 step) | "
        f"{_fmt(r['floor_ratio'], 3)} (rounds "
        f"{span(r['per_round_floor_ratio'])}) | "
        f"{_fmt(m['floor_ratio'], 3)} | {_fmt(c['floor_ratio'], 3)} |",
        f"| (dual / KD-R18) / floor, target <= 1.05 | "
        f"**{_fmt(r['dual_vs_floor'], 3)}** "
        f"({'met' if r['time_target_met'] else 'NOT met'}; per-round "
        f"median {_fmt(r['median_per_round_dual_vs_floor'], 3)}) | "
        f"{_fmt(m['dual_vs_floor'], 3)} | {_fmt(c['dual_vs_floor'], 3)} |",
    ]
    if 'dual_vs_plain_floor' in r:
        lines += [
            f"| plain floor: MBv2 step of (b)'s student instead | "
            f"{_fmt(r['plain_floor_ratio'], 3)} | "
            f"{_fmt(m.get('plain_floor_ratio'), 3)} | "
            f"{_fmt(c.get('plain_floor_ratio'), 3)} |",
            f"| (dual / KD-R18) / plain floor, target <= 1.05 | "
            f"{_fmt(r['dual_vs_plain_floor'], 3)} "
            f"({'met' if r['time_target_met_plain'] else 'NOT met'}) | "
            f"{_fmt(m.get('dual_vs_plain_floor'), 3)} | "
            f"{_fmt(c.get('dual_vs_plain_floor'), 3)} |",
        ]
    lines += [
        f"| dual - (teacher + R18 + MBv2 steps) | "
        f"{_fmt(r['dual_overhead_ms'])} ms "
        f"({_fmt(r['dual_overhead_pct'], 1)} %) | "
        f"{_fmt(m['dual_overhead_ms'])} ms "
        f"({_fmt(m['dual_overhead_pct'], 1)} %) | "
        f"{_fmt(c['dual_overhead_ms'])} ms "
        f"({_fmt(c['dual_overhead_pct'], 1)} %) |",
        f"| KD-R18 - (teacher + R18 step) | "
        f"{_fmt(r['kd_r18_overhead_ms'])} ms "
        f"({_fmt(r['kd_r18_overhead_pct'], 1)} %) | "
        f"{_fmt(m['kd_r18_overhead_ms'])} ms "
        f"({_fmt(m['kd_r18_overhead_pct'], 1)} %) | "
        f"{_fmt(c['kd_r18_overhead_ms'])} ms "
        f"({_fmt(c['kd_r18_overhead_pct'], 1)} %) |",
    ]
    if 'peak_mem_dual_over_kd_r18' in r:
        lines += [
            f"| peak memory rise in a step, dual / KD-R18 | "
            f"{_fmt(r['peak_mem_dual_over_kd_r18'], 2)} | | |",
            f"| static + peak rise, dual / KD-R18, target <= 1.3 | "
            f"{_fmt(r['est_run_peak_dual_over_kd_r18'], 2)} "
            f"({'met' if r['memory_target_met'] else 'NOT met'}) | | |",
        ]
        if 'est_run_peak_dual_over_kd_mbv2' in r:
            lines.append(
                f"| static + peak rise, dual / KD-MBv2 | "
                f"{_fmt(r['est_run_peak_dual_over_kd_mbv2'], 2)} | | |")
    if 'tensor_run_peak_dual_over_kd_r18' in r:
        lines += [
            f"| static + peak in tensors, dual / KD-R18, target <= 1.3 | "
            f"**{_fmt(r['tensor_run_peak_dual_over_kd_r18'], 2)}** "
            f"({'met' if r['tensor_memory_target_met'] else 'NOT met'}) "
            '| | |',
            f"| static + peak in tensors, dual / KD-MBv2 | "
            f"{_fmt(r['tensor_run_peak_dual_over_kd_mbv2'], 2)} | | |",
        ]
    if 'val_dual_over_val_kd' in r:
        lines += [
            f"| val: predict_all (+teacher) / KD val (student + teacher) | "
            f"{_fmt(r['val_dual_over_val_kd'], 3)} | | |",
            f"| val: predict_all (+teacher) / one student predict | "
            f"{_fmt(r['val_dual_over_val_single'], 3)} | | |",
            f"| val: predict_all (students + ensemble) / one student "
            f"predict | {_fmt(r['val_dual_students_over_val_single'], 3)} "
            '| | |',
        ]
    return '\n'.join(lines)


