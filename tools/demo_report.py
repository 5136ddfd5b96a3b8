"""The report of ``tools/run_demo.py``: final metrics, table, reading.

Reads what each demo stage logged (mmengine's ``vis_data/scalars.json``) and
its checkpoint, and writes the Markdown table with one sentence computed from
its numbers.
"""
import json
import os
import os.path as osp
from typing import Dict, Optional, Sequence

__all__ = ['ROWS', 'read_final_metrics', 'find_checkpoint', 'format_results',
           'reading']

#: table rows: (label, result-name prefix)
ROWS = [('hard-label', 'hard'), ('built-in KD (MMRazor)', 'kd'),
        ('dual-student (ours)', 'ours')]


def _latest_run_dir(work_dir: str) -> Optional[str]:
    """The newest ``<timestamp>/`` folder that mmengine made in a work
    dir."""
    runs = [
        d for d in os.listdir(work_dir)
        if osp.isfile(osp.join(work_dir, d, 'vis_data', 'scalars.json'))
    ] if osp.isdir(work_dir) else []
    return osp.join(work_dir, max(runs)) if runs else None


def read_final_metrics(work_dir: str) -> Dict[str, float]:
    """The last validation record of a training run.

    Reads ``<work_dir>/<newest timestamp>/vis_data/scalars.json`` (one JSON
    record a line, written by mmengine's ``LocalVisBackend``); validation
    records are those without a learning rate.

    Args:
        work_dir (str): The run's work dir.

    Returns:
        Dict[str, float]: Metric name to value (empty if none was logged).
    """
    run = _latest_run_dir(work_dir)
    if run is None:
        return {}
    final: Dict[str, float] = {}
    with open(osp.join(run, 'vis_data', 'scalars.json')) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            record = json.loads(line)
            if 'lr' in record or any(k.endswith('/lr') for k in record):
                continue  # a training record
            if any('accuracy' in k for k in record):
                final = record
    return final


def find_checkpoint(work_dir: str) -> str:
    """The last checkpoint a training run saved.

    Args:
        work_dir (str): The run's work dir.

    Returns:
        str: Path of the checkpoint (named in mmengine's ``last_checkpoint``
        file, else the newest ``epoch_*.pth``).

    Raises:
        FileNotFoundError: If the run saved no checkpoint.
    """
    marker = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(marker):
        with open(marker) as f:
            path = f.read().strip()
        if osp.isfile(path):
            return path
    ckpts = [f for f in os.listdir(work_dir)
             if f.startswith('epoch_') and f.endswith('.pth')] \
        if osp.isdir(work_dir) else []
    if not ckpts:
        raise FileNotFoundError(f'no checkpoint in {work_dir}')
    newest = max(ckpts, key=lambda f: int(f[len('epoch_'):-len('.pth')]))
    return osp.join(work_dir, newest)


def _fmt(value: Optional[float]) -> str:
    return 'n/a' if value is None else f'{value:.2f}'


def format_results(results: Dict[str, float], times: Dict[str, float],
                   epochs: int, teacher_epochs: int, quick: bool,
                   notes: Sequence[str] = ()) -> str:
    """The results as Markdown: the accuracy table and the stage times.

    Args:
        results (Dict[str, float]): Result name (``'teacher'``,
            ``'hard/r18'``, ..., ``'ours/ensemble'``) to top-1 accuracy.
        times (Dict[str, float]): Stage name to wall time in seconds, in
            the order the stages ran.
        epochs (int): Epochs every student stage trained for.
        teacher_epochs (int): Epochs the teacher trained for.
        quick (bool): Whether the ``--quick`` subset was used.
        notes (Sequence[str]): Extra lines appended below the tables.
            Defaults to ``()``.

    Returns:
        str: The Markdown text.
    """
    data = ('teacher on 16 train images per class, students on 10, 8 test '
            'images per class (--quick)' if quick else
            'teacher on all 1,437 train images, every student on the same '
            '10 per class; 360 test images')
    lines = [
        '# Offline demo: 8x8 handwritten digits (scikit-learn), 16x16',
        '',
        f'Teacher {teacher_epochs} epoch(s), students {epochs} epoch(s); '
        f'{data}; top-1 accuracy (%) on the held-out test split after the '
        'last epoch.',
        '',
        f'Teacher ResNet-50 top-1: {_fmt(results.get("teacher"))}',
        '',
        '| method | ResNet-18 top-1 | MobileNetV2 top-1 |',
        '| --- | --- | --- |',
    ]
    for label, prefix in ROWS:
        lines.append(f'| {label} | {_fmt(results.get(prefix + "/r18"))} | '
                     f'{_fmt(results.get(prefix + "/mbv2"))} |')
    if results.get('ours/ensemble') is not None:
        lines += [
            '',
            'Dual-student ensemble (mean of the two students\' '
            f'probabilities) top-1: {_fmt(results["ours/ensemble"])}',
        ]
    lines += ['', '| stage | wall time (s) |', '| --- | --- |']
    for name, seconds in times.items():
        lines.append(f'| {name} | {seconds:.1f} |')
    lines.append(f'| total | {sum(times.values()):.1f} |')
    lines += ['', reading(results)]
    if notes:
        lines += [''] + [f'Note: {note}' for note in notes]
    return '\n'.join(lines) + '\n'


def _signed(delta: float) -> str:
    return f'{delta:+.2f}'


def reading(results: Dict[str, float]) -> str:
    """One sentence that says what the table shows, from its numbers only.

    Args:
        results (Dict[str, float]): As for :func:`format_results`.

    Returns:
        str: ``'Reading: ...'``; a single run per row, so differences of a
        point or two are within seed noise, and the sentence says so.
    """
    teacher = results.get('teacher')
    hard = {s: results.get(f'hard/{s}') for s in ('r18', 'mbv2')}
    if teacher is None or None in hard.values():
        return 'Reading: incomplete run, no comparison.'
    best = max(hard.values())
    parts = [f'the teacher ({teacher:.2f}) is '
             f'{"above" if teacher > best else "NOT above"} every hard-label '
             f'student (best {best:.2f})']
    for prefix, label in (('kd', 'built-in KD'), ('ours', 'dual-student')):
        deltas = [results.get(f'{prefix}/{s}') for s in ('r18', 'mbv2')]
        if None in deltas:
            continue
        parts.append(f'{label} vs hard labels: ResNet-18 '
                     f'{_signed(deltas[0] - hard["r18"])}, MobileNetV2 '
                     f'{_signed(deltas[1] - hard["mbv2"])} points')
    return ('Reading: ' + '; '.join(parts) + ' (one seed per row: '
            'differences of a point or two are within seed noise; '
            'docs/results.md has the multi-seed protocol).')
