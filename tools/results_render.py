"""Rendering of ``tools/summarize_results.py``: the report's row and
student names, its Markdown tables and the per-epoch curves plot.

Every function here takes :func:`summarize_results.collect`'s statistics
and only formats them; nothing is computed from the run dirs.
"""
import json
import math
from typing import Dict, List, Optional, Tuple

__all__ = [
    'ROW_LABELS', 'STUDENTS', 'STUDENT_LABELS', 'ENSEMBLE', 'render_markdown',
    'save_curves'
]

#: ablation rows in table order, with their labels
ROW_LABELS: Dict[str, str] = {
    'hard': 'hard labels only (CE)',
    'kd': '+ KD (MMRazor built-in, α .3 β .7, τ 4)',
    'uncertainty': '+ uncertainty weighting (UDSKD no-peer, γ = 0)',
    'udskd': '+ peer learning (full UDSKD, α .4 β .4 γ .2)',
    'no-uncertainty': 'UDSKD without uncertainty weighting (w = 1)',
    'kd-conf': 'built-in KD with the confidence weight w (α .3 β .7)',
    'dkd': 'DKD (MMRazor built-in, α 1 β 8, τ 4)',
    'dml': 'DML: the two students as peers, no teacher (γ only)',
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


def render_markdown(stats: Dict[str, object],
                    hyper: Optional[Dict[str, object]] = None,
                    confidence: Optional[Dict[str, object]] = None,
                    plots: Optional[Dict[str, str]] = None) -> str:
    """The results as Markdown.

    Args:
        stats (Dict[str, object]): From :func:`collect`.
        hyper (Dict[str, object], optional): Protocol settings to list.
        confidence (Dict[str, object], optional): ``teacher_confidence.py``'s
            ``summary.json``.
        plots (Dict[str, str], optional): Plot title -> file name.

    Returns:
        str: The Markdown text.
    """
    lines: List[str] = []
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
    lines += ['', '### Wall-clock per run', '',
              '| row | seconds per run (mean ± std) | runs |',
              '| --- | --- | --- |']
    for row in rows:
        w = stats['wall'].get(row)
        if w:
            what = ' (one student per run)' if row in ('hard', 'kd') else \
                ' (both students in one run)'
            lines.append(f"| {ROW_LABELS[row]}{what} | "
                         f"{_fmt(w['mean'], w['std'], 0)} | {w['n']} |")
    teacher = stats.get('teacher')
    if teacher:
        lines.append(f"| teacher training | {teacher['wall_s']:.0f} | 1 |")
    lines += ['', '### Teacher (ResNet-50)', '']
    if teacher and 'top1' in teacher:
        lines.append(f"* test top-1 {teacher['top1']:.2f}%, top-5 "
                     f"{teacher['top5']:.2f}% (after epoch "
                     f"{teacher['epochs'][-1]})")
    if confidence:
        c = confidence
        lines += [
            f"* confidence on the test split ({c['num_samples']} images, "
            f"C = {c['num_classes']}, log C = {c['log_num_classes']:.3f}): "
            f"mean w = {c['weight_mean']:.3f}; mean H at T = 1: "
            f"{c['entropy_t1']:.3f} nats; mean H at T = τ = {c['tau']:g}: "
            f"{c['entropy_tau']:.3f} nats; share with w < 0.5: "
            f"{100 * c['uncertain_ratio']:.1f}%"]
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
                ax.plot(range(1, len(curve) + 1), curve, marker='o',
                        label=f"{row} (n={entry[student]['n']})")
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
