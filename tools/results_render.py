"""Rendering of ``tools/summarize_results.py``: the report's row and
student names, its Markdown tables, the per-epoch curves plot and the
per-run CSV.

Every function here takes :func:`summarize_results.collect`'s statistics
and only formats them; nothing is computed from the run dirs.
"""
import csv
import json
import math
from typing import Dict, List, Optional, Sequence, Tuple

__all__ = [
    'ROW_LABELS', 'SHORT_LABELS', 'STUDENTS', 'STUDENT_LABELS', 'ENSEMBLE',
    'CSV_FIELDS', 'render_headline', 'render_markdown', 'save_curves',
    'write_runs_csv'
]

#: ablation rows in table order, with their labels
ROW_LABELS: Dict[str, str] = {
    'hard': 'hard labels only (CE)',
    'kd': 'built-in KD (MMRazor, α .3 β .7, τ 4)',
    'kd-conf': 'built-in KD with the confidence weight w (α .3 β .7)',
    'dkd': 'built-in DKD (MMRazor, α 1 β 8, τ 4)',
    'uncertainty': 'UDSKD without peer (α .4 β .4 γ 0)',
    'udskd': 'full UDSKD (α .4 β .4 γ .2)',
    'no-uncertainty': 'UDSKD with w = 1 (no confidence weight)',
    'dml': 'DML: the two students as peers, no teacher',
}
#: the rows' names in plot legends
SHORT_LABELS: Dict[str, str] = {
    'hard': 'hard labels', 'kd': 'KD', 'kd-conf': 'KD + w', 'dkd': 'DKD',
    'uncertainty': 'UDSKD, no peer', 'udskd': 'UDSKD',
    'no-uncertainty': 'UDSKD, w = 1', 'dml': 'DML',
}
#: the two students
STUDENTS: Tuple[str, ...] = ('r18', 'mbv2')
STUDENT_LABELS: Dict[str, str] = {'r18': 'ResNet-18', 'mbv2': 'MobileNetV2'}
#: the students' ensemble, scored by the dual-student runs
ENSEMBLE = 'ensemble'


def _fmt(mean: float, std: float, digits: int = 2) -> str:
    if isinstance(mean, float) and math.isnan(mean):
        return '—'
    if isinstance(std, float) and math.isnan(std):
        return f'{mean:.{digits}f}'
    return f'{mean:.{digits}f} ± {std:.{digits}f}'


def _fmt_p(p: float) -> str:
    if math.isnan(p):
        return 'n/a'
    return f'{p:.3f}' if p >= 0.001 else f'{p:.1e}'


def _epochs(epochs: Sequence[int]) -> str:
    """One epoch when every seed's is the same, else each seed's in order."""
    if len(set(epochs)) == 1:
        return str(epochs[0])
    return ', '.join(map(str, epochs))


def _with_epochs(entry: Dict[str, object], key: str, epochs: str) -> str:
    """``mean ± std (epochs)`` of ``entry[key]``, or a dash without runs."""
    if not entry.get('seeds'):
        return '—'
    return (f"{_fmt(entry[key + '_mean'], entry[key + '_std'])} "
            f"({_epochs(entry[epochs])})")


def _confidence_line(c: Dict[str, object], where: str) -> str:
    """One bullet of ``teacher_confidence.py``'s ``summary.json``."""
    return (f"* confidence on {where} ({c['num_samples']} images, "
            f"C = {c['num_classes']}, log C = {c['log_num_classes']:.3f}): "
            f"mean w = {c['weight_mean']:.3f}; mean H at T = 1: "
            f"{c['entropy_t1']:.3f} nats; mean H at T = τ = {c['tau']:g}: "
            f"{c['entropy_tau']:.3f} nats; share with w < 0.5: "
            f"{100 * c['uncertain_ratio']:.1f}%")


def _gain_cell(entry: Dict[str, object]) -> str:
    """``+Δ (p x, n k)`` of a student against built-in KD, or a dash."""
    vs = entry.get('vs_kd')
    if vs is None:
        return '—'
    t = vs['top1']
    sign = '+' if t['gain'] >= 0 else ''
    return f"{sign}{t['gain']:.2f} (p {_fmt_p(t['p'])}, n {t['n']})"


def _seeds_cell(entry: Dict[str, object]) -> str:
    """The finished seeds of a row: once when both students have the same,
    else per student (a run still going)."""
    per = {STUDENT_LABELS[s]: ','.join(map(str, entry[s]['seeds']))
           for s in STUDENTS if entry.get(s, {}).get('seeds')}
    if len(set(per.values())) == 1:
        return next(iter(per.values()))
    return '; '.join(f'{name} {seeds}' for name, seeds in per.items())


def render_headline(stats: Dict[str, object]) -> List[str]:
    """The one table a reader needs first: per row and student the last
    epoch's top-1 (mean ± std) and its paired gain over built-in KD, and
    the dual rows' ensemble.

    Args:
        stats (Dict[str, object]): From :func:`collect`.

    Returns:
        List[str]: Markdown lines, heading included.
    """
    lines = ['### Summary (top-1 %, last epoch, mean ± std over seeds; '
             'Δ: paired gain over built-in KD in points, two-sided t-test)',
             '', '| row | ResNet-18 | Δ vs KD | MobileNetV2 | Δ vs KD | '
             'ensemble | seeds |', '| --- | ---: | --- | ---: | --- | ---: '
             '| --- |']
    for row, entry in stats['rows'].items():
        cells = []
        for student in STUDENTS:
            e = entry.get(student, {})
            cells += [_fmt(e.get('top1_mean', float('nan')),
                           e.get('top1_std', float('nan'))),
                      '' if row == 'kd' else _gain_cell(e)]
        ens = entry.get(ENSEMBLE)
        cells.append(_fmt(ens['top1_mean'], ens['top1_std']) if ens else '')
        lines.append(f'| {ROW_LABELS[row]} | ' + ' | '.join(cells) +
                     f' | {_seeds_cell(entry)} |')
    return lines + ['']


def render_markdown(stats: Dict[str, object],
                    hyper: Optional[Dict[str, object]] = None,
                    confidence: Optional[Dict[str, object]] = None,
                    plots: Optional[Dict[str, str]] = None,
                    confidence_train: Optional[Dict[str, object]] = None
                    ) -> str:
    """The results as Markdown.

    The headline table reports the last epoch; the best epoch's top-1 (and
    which epoch it was, per seed) is a separate table beside it, never the
    reported number, since choosing it selects on the test split.

    Args:
        stats (Dict[str, object]): From :func:`collect`.
        hyper (Dict[str, object], optional): Protocol settings to list.
        confidence (Dict[str, object], optional): ``teacher_confidence.py``'s
            ``summary.json`` on the test split.
        plots (Dict[str, str], optional): Plot title -> file name.
        confidence_train (Dict[str, object], optional): The same on the
            students' train images.

    Returns:
        str: The Markdown text.
    """
    lines: List[str] = render_headline(stats)
    rows = stats['rows']
    lines += ['### Top-1 / top-5 on the test split (%, last epoch, '
              'mean ± std over seeds)', '',
              '| row | ResNet-18 top-1 | ResNet-18 top-5 | MobileNetV2 top-1 '
              '| MobileNetV2 top-5 | seeds (n) |',
              '| --- | --- | --- | --- | --- | --- |']
    for row, entry in rows.items():
        cells = []
        for student in STUDENTS:
            e = entry.get(student, {})
            cells += [_fmt(e.get('top1_mean', float('nan')),
                           e.get('top1_std', float('nan'))),
                      _fmt(e.get('top5_mean', float('nan')),
                           e.get('top5_std', float('nan')))]
        seeds = sorted({s for e in entry.values() for s in e['seeds']})
        lines.append(f'| {ROW_LABELS[row]} | ' + ' | '.join(cells) +
                     f' | {",".join(map(str, seeds))} ({len(seeds)}) |')
    dual = {row: entry[ENSEMBLE] for row, entry in rows.items()
            if ENSEMBLE in entry}
    if dual:
        lines += ['', "### Student ensemble of the dual-student rows (mean "
                  "of the two students' softmax; %, last epoch, mean ± std "
                  "over seeds)", '',
                  '| row | ensemble top-1 | ensemble top-5 | best top-1 '
                  '(epoch per seed) | seeds (n) |',
                  '| --- | --- | --- | --- | --- |']
        for row, e in dual.items():
            lines.append(
                f"| {ROW_LABELS[row]} | "
                f"{_fmt(e['top1_mean'], e['top1_std'])} | "
                f"{_fmt(e['top5_mean'], e['top5_std'])} | "
                f"{_with_epochs(e, 'best_top1', 'best_epochs')} | "
                f"{','.join(map(str, e['seeds']))} ({e['n']}) |")
    lines += ['', '### Last and best epoch (top-1 %, mean ± std over seeds; '
              'the last is the reported number, the best selects on the '
              'test split and is shown only beside it)', '',
              '| row | ResNet-18 last (epoch) | ResNet-18 best (epoch per '
              'seed) | MobileNetV2 last (epoch) | MobileNetV2 best (epoch '
              'per seed) |', '| --- | --- | --- | --- | --- |']
    for row, entry in rows.items():
        cells = []
        for student in STUDENTS:
            e = entry.get(student, {})
            cells += [_with_epochs(e, 'top1', 'last_epochs'),
                      _with_epochs(e, 'best_top1', 'best_epochs')]
        lines.append(f'| {ROW_LABELS[row]} | ' + ' | '.join(cells) + ' |')
    lines += ['', '### Gain over built-in KD (top-1, percentage points; '
              'paired t-test across seeds, two-sided)', '',
              '| row | ResNet-18 Δ top-1 | p (n) | MobileNetV2 Δ top-1 '
              '| p (n) |', '| --- | --- | --- | --- | --- |']
    for row, entry in rows.items():
        if row == 'kd':
            continue
        cells = []
        for student in STUDENTS:
            vs = entry.get(student, {}).get('vs_kd')
            if vs is None:
                cells += ['—', '—']
                continue
            t = vs['top1']
            sign = '+' if t['gain'] >= 0 else ''
            cells += [f"{sign}{_fmt(t['gain'], t['gain_std'])}",
                      f"{_fmt_p(t['p'])} ({t['n']})"]
        lines.append(f'| {ROW_LABELS[row]} | ' + ' | '.join(cells) + ' |')
    lines += ['', '### Wall time per run', '',
              '| row | minutes per run (mean ± std) | runs |',
              '| --- | --- | --- |']
    for row in rows:
        w = stats['wall'].get(row)
        if w:
            what = ' (one student per run)' if w.get(
                'students_per_run', 1) == 1 else ' (both students in one run)'
            lines.append(f"| {ROW_LABELS[row]}{what} | "
                         f"{_fmt(w['mean'] / 60, w['std'] / 60, 1)} | "
                         f"{w['n']} |")
    teacher = stats.get('teacher')
    if teacher:
        legs = teacher.get('legs', 1)
        what = f' ({legs} resumed legs)' if legs > 1 else ''
        lines.append(f"| teacher training{what} | "
                     f"{teacher['wall_s'] / 60:.1f} | 1 |")
    lines += ['', '### Teacher (ResNet-50)', '']
    if teacher and 'top1' in teacher:
        lines.append(f"* test top-1 {teacher['top1']:.2f}%, top-5 "
                     f"{teacher['top5']:.2f}% (after epoch "
                     f"{teacher['epochs'][-1]})")
    if confidence:
        lines.append(_confidence_line(confidence, 'the test split'))
    if confidence_train:
        lines.append(_confidence_line(confidence_train,
                                      "the students' train images"))
    if plots:
        lines += ['', '### Plots', '']
        lines += [f'![{title}]({fname})' for title, fname in plots.items()]
    if hyper:
        lines += ['', '### Protocol', '', '```json',
                  json.dumps(hyper, indent=2, default=str), '```']
    lines += ['', '### Commands (as run, from each ablation_run.json)', '',
              '```bash']
    for name, info in stats['runs'].items():
        lines.append(f"# {name} ({info['wall_s']:.0f} s)")
        lines.append(info['command'])
    lines += ['```', '']
    return '\n'.join(lines)


def save_curves(stats: Dict[str, object], path: str,
                title: str = '') -> Optional[str]:
    """Per-epoch val top-1 of every row (mean over seeds), one panel per
    student.

    Args:
        stats (Dict[str, object]): From :func:`collect`.
        path (str): The PNG to write.
        title (str): Figure title. Defaults to ''.

    Returns:
        str, optional: ``path``, or None when there is nothing to plot.
    """
    if not stats['rows']:
        return None
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, len(STUDENTS), figsize=(11, 4), sharey=True)
    for ax, student in zip(axes, STUDENTS):
        for row, entry in stats['rows'].items():
            curve = entry.get(student, {}).get('curve')
            if curve:
                epochs = entry[student].get('curve_epochs') or range(
                    1, len(curve) + 1)
                ax.plot(epochs, curve, marker='o',
                        label=f"{SHORT_LABELS.get(row, row)} "
                        f"(n={entry[student]['n']})")
        ax.set_title(STUDENT_LABELS[student])
        ax.set_xlabel('epoch')
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel('val top-1 (%), mean over seeds')
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


#: the columns of :func:`write_runs_csv`
CSV_FIELDS = ('row', 'student', 'seed', 'top1', 'top5', 'last_epoch',
              'best_top1', 'best_epoch')


def write_runs_csv(stats: Dict[str, object], path: str) -> int:
    """One line per row, student (or ensemble) and seed: the last epoch's
    top-1/top-5 and the best epoch beside it, for a spreadsheet or a test
    of one's own.

    Args:
        stats (Dict[str, object]): From :func:`collect`.
        path (str): The CSV to write.

    Returns:
        int: The number of lines written after the header.
    """
    lines = 0
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(CSV_FIELDS)
        for row, entry in stats['rows'].items():
            for student in (*STUDENTS, ENSEMBLE):
                if student not in entry:
                    continue
                e = entry[student]
                for i, seed in enumerate(e['seeds']):
                    writer.writerow([
                        row, student, seed, f"{e['top1'][i]:.2f}",
                        f"{e['top5'][i]:.2f}", e['last_epochs'][i],
                        f"{e['best_top1'][i]:.2f}", e['best_epochs'][i]])
                    lines += 1
    return lines
