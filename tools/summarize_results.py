"""Summarise the UDSKD ablation runs of ``tools/run_ablation.py``.

Reads every run's validation records from mmengine's
``<run work dir>/<timestamp>/vis_data/scalars.json`` and its
``ablation_run.json`` (command, seed, wall-clock), and writes
``results.md``, ``results.json``, ``results.csv`` (one line per row, student
and seed), ``val_top1_curves.png`` (per-epoch val top-1 of each row, mean over
seeds) and ``teacher_w_hist.png`` /
``teacher_w_hist_train.png`` (the teacher's confidence-weight histogram on the
test split / on the students' train images, from ``teacher_confidence.py``).

The number reported per run is its **last** epoch's val accuracy; the best
epoch's top-1 and which epoch it was are shown beside it, never instead of it
(choosing the best epoch selects on the test split). Dual-student rows also
report the students' ensemble, and every row its wall time per run. Rows are
compared with the built-in KD row by a paired t-test across seeds
(``scipy.stats.ttest_rel``) on the seeds both rows finished. The tables and
the plot are drawn by ``tools/results_render.py``.

::

    python tools/summarize_results.py WORK_DIR [--out-dir DIR]
"""
import argparse
import glob
import json
import math
import os
import os.path as osp
import shutil
import sys
from typing import Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from ablation_legs import leg_seconds, run_legs  # noqa: E402
from results_render import (ENSEMBLE, ROW_LABELS,  # noqa: E402
                            STUDENT_LABELS, STUDENTS, render_markdown,
                            save_curves, write_runs_csv)

__all__ = [
    'ROW_LABELS', 'STUDENTS', 'STUDENT_LABELS', 'RUN_INFO', 'is_finished',
    'read_val_records', 'run_metrics', 'run_legs', 'leg_seconds', 'mean_std',
    'paired_test', 'collect',
    'render_markdown', 'save_curves', 'summarize', 'main'
]

#: the per-run record written by run_ablation.py
RUN_INFO = 'ablation_run.json'


def is_finished(work_dir: str) -> bool:
    """Whether a run finished: ``ablation_run.json`` with return code 0.

    Args:
        work_dir (str): The run's work dir.

    Returns:
        bool: True when the run need not be started again.
    """
    path = osp.join(work_dir, RUN_INFO)
    if not osp.isfile(path):
        return False
    try:
        with open(path) as f:
            return json.load(f).get('returncode') == 0
    except (OSError, ValueError):
        return False


def read_val_records(work_dir: str, key: str) -> Dict[int, Dict[str, float]]:
    """Validation records of a run, by epoch, over the timestamp dirs of
    the legs behind its result (:func:`run_legs`: a resumed run writes a
    new one, later dirs win; a restart from scratch drops the earlier).

    Args:
        work_dir (str): The run's work dir.
        key (str): A metric key that marks val records, e.g.
            ``'r18/accuracy/top1'``.

    Returns:
        Dict[int, Dict[str, float]]: epoch (``step``) -> record.
    """
    records: Dict[int, Dict[str, float]] = {}
    paths = [osp.join(leg, 'vis_data', 'scalars.json')
             for leg in run_legs(work_dir)]
    for path in filter(osp.isfile, paths):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                rec = json.loads(line)
                if key in rec and 'step' in rec:
                    records[int(rec['step'])] = rec
    return records


def run_metrics(work_dir: str,
                students: Dict[str, str]) -> Dict[str, Dict[str, object]]:
    """Last-epoch top-1/top-5, the top-1 curve and the best epoch of each
    student of a run.

    Args:
        work_dir (str): The run's work dir.
        students (Dict[str, str]): Student -> metric prefix (``''`` for a
            single-model config, ``'r18/'`` for UDSKD, ``'ensemble/'`` for
            the students' ensemble).

    Returns:
        Dict[str, Dict[str, object]]: Student -> ``top1``, ``top5`` and
        ``last_epoch`` (the last validation: the reported numbers),
        ``best_top1`` and ``best_epoch`` (the highest top-1 of any
        validation, the earliest on ties), ``epochs`` and ``curve`` (top-1
        per validated epoch); students without val records are left out.
    """
    out: Dict[str, Dict[str, object]] = {}
    for student, prefix in students.items():
        key = f'{prefix}accuracy/top1'
        recs = read_val_records(work_dir, key)
        if not recs:
            continue
        epochs = sorted(recs)
        last = recs[epochs[-1]]
        curve = [float(recs[e][key]) for e in epochs]
        best = curve.index(max(curve))
        out[student] = dict(
            top1=float(last[key]),
            top5=float(last.get(f'{prefix}accuracy/top5', float('nan'))),
            last_epoch=epochs[-1], best_top1=curve[best],
            best_epoch=epochs[best], epochs=epochs, curve=curve)
    return out


def mean_std(values: Sequence[float]) -> Tuple[float, float, int]:
    """Mean, sample standard deviation (ddof 1; NaN for one value) and n.

    Args:
        values (Sequence[float]): The values.

    Returns:
        Tuple[float, float, int]: ``(mean, std, n)``.
    """
    n = len(values)
    if n == 0:
        return float('nan'), float('nan'), 0
    mean = sum(values) / n
    if n == 1:
        return mean, float('nan'), 1
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var), n


def paired_test(a: Sequence[float],
                b: Sequence[float]) -> Dict[str, float]:
    """Paired comparison of ``a`` against ``b`` (same seeds, same order).

    Args:
        a (Sequence[float]): The row's values.
        b (Sequence[float]): The reference row's values.

    Returns:
        Dict[str, float]: ``gain`` (mean of a - b), ``gain_std``, ``n``,
        ``t`` and ``p`` (two-sided ``scipy.stats.ttest_rel``; NaN when
        n < 2, when the differences do not vary, or without scipy).
    """
    diffs = [x - y for x, y in zip(a, b)]
    gain, gain_std, n = mean_std(diffs)
    t = p = float('nan')
    if n >= 2 and gain_std > 0:
        try:
            from scipy.stats import ttest_rel
            res = ttest_rel(list(a), list(b))
            t, p = float(res.statistic), float(res.pvalue)
        except ImportError:  # pragma: no cover
            pass
    return dict(gain=gain, gain_std=gain_std, n=n, t=t, p=p)


def _load_json(path: str) -> Optional[Dict[str, object]]:
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def _row_entry(by_seed: Dict[int, Dict[str, object]]) -> Dict[str, object]:
    """Statistics over seeds of one row and student (or ensemble).

    Args:
        by_seed (Dict[int, Dict[str, object]]): Seed -> :func:`run_metrics`
            entry.

    Returns:
        Dict[str, object]: ``seeds`` and, in seed order, ``top1``, ``top5``,
        ``last_epochs``, ``best_top1`` and ``best_epochs``; the mean/std of
        top-1, top-5 and best top-1, ``n``, the mean ``curve`` over the
        ``curve_epochs`` that every seed validated.
    """
    seeds = sorted(by_seed)
    entry: Dict[str, object] = dict(seeds=seeds)
    for key in ('top1', 'top5', 'best_top1'):
        entry[key] = [by_seed[s][key] for s in seeds]
        entry[f'{key}_mean'], entry[f'{key}_std'], entry['n'] = mean_std(
            entry[key])
    entry['last_epochs'] = [by_seed[s]['last_epoch'] for s in seeds]
    entry['best_epochs'] = [by_seed[s]['best_epoch'] for s in seeds]
    # the mean curve over the epochs every seed validated, matched by epoch:
    # a run killed between its checkpoint and that epoch's validation
    # resumes without it, so seeds can differ in which epochs they logged
    curves = [dict(zip(by_seed[s]['epochs'], by_seed[s]['curve']))
              for s in seeds]
    if curves:
        epochs = sorted(set.intersection(*(set(c) for c in curves)))
        entry['curve'] = [sum(c[e] for c in curves) / len(curves)
                          for e in epochs]
        entry['curve_epochs'] = epochs
    return entry


def collect(work_dir: str, run_names: Sequence[str]) -> Dict[str, object]:
    """Gather metrics of the finished runs and the statistics per row.

    Args:
        work_dir (str): The ablation work dir (runs in ``work_dir/<name>``).
        run_names (Sequence[str]): Run names, ``'teacher'``,
            ``'<row>-<student>/seed<s>'`` or ``'<row>/seed<s>'``.

    Returns:
        Dict[str, object]: ``runs`` (per-run info and metrics), ``rows``
        (per row and student, and ``ensemble`` for rows whose runs score
        the students' ensemble: see :func:`_row_entry`, plus the paired
        test against ``kd`` per student), ``teacher`` and ``wall`` (per
        row: mean/std/n of seconds per run, ``students_per_run``).
    """
    runs: Dict[str, Dict[str, object]] = {}
    for name in run_names:
        wd = osp.join(work_dir, name)
        info = _load_json(osp.join(wd, RUN_INFO))
        if info is None or info.get('returncode') != 0:
            continue
        info = dict(info)
        info['metrics'] = run_metrics(wd, info['students'])
        runs[name] = info

    per: Dict[str, Dict[str, Dict[int, Dict[str, object]]]] = {}
    wall: Dict[str, List[float]] = {}
    per_run: Dict[str, int] = {}
    teacher = None
    for name, info in runs.items():
        wall_s, legs = float(info['wall_s']), 1
        if '--resume' in str(info['command']).split():
            by_leg = leg_seconds(osp.join(work_dir, name))
            # the killed legs' time too (their logs, not the record)
            wall_s, legs = max(wall_s, sum(by_leg)), max(1, len(by_leg))
        if info['row'] == 'teacher':
            teacher = dict(info['metrics'].get('teacher', {}),
                           wall_s=wall_s, legs=legs,
                           command=info['command'])
            continue
        wall.setdefault(info['row'], []).append(wall_s)
        per_run[info['row']] = max(per_run.get(info['row'], 0), len(
            [s for s in info['students'] if s != ENSEMBLE]))
        for student, m in info['metrics'].items():
            per.setdefault(info['row'], {}).setdefault(
                student, {})[int(info['seed'])] = m

    rows: Dict[str, Dict[str, object]] = {}
    for row in [r for r in ROW_LABELS if r in per]:
        rows[row] = {}
        for student in STUDENTS:
            by_seed = per[row].get(student, {})
            entry = _row_entry(by_seed)
            kd = per.get('kd', {}).get(student, {})
            common = [s for s in entry['seeds'] if s in kd]
            if row != 'kd' and common:
                entry['vs_kd'] = dict(
                    seeds=common,
                    top1=paired_test([by_seed[s]['top1'] for s in common],
                                     [kd[s]['top1'] for s in common]),
                    top5=paired_test([by_seed[s]['top5'] for s in common],
                                     [kd[s]['top5'] for s in common]))
            rows[row][student] = entry
        if per[row].get(ENSEMBLE):
            rows[row][ENSEMBLE] = _row_entry(per[row][ENSEMBLE])
    wall_stats = {row: dict(zip(('mean', 'std', 'n'), mean_std(v)),
                            students_per_run=per_run[row])
                  for row, v in wall.items()}
    return dict(runs=runs, rows=rows, teacher=teacher, wall=wall_stats)


def summarize(work_dir: str, run_names: Sequence[str],
              out_dir: Optional[str] = None,
              hyper: Optional[Dict[str, object]] = None,
              conf_dir: Optional[str] = None,
              plots: bool = True,
              conf_train_dir: Optional[str] = None) -> Dict[str, object]:
    """Collect, print and write the results.

    Args:
        work_dir (str): The ablation work dir.
        run_names (Sequence[str]): The runs (see :func:`collect`).
        out_dir (str, optional): Output folder. Defaults to ``work_dir``.
        hyper (Dict[str, object], optional): Protocol settings to record.
        conf_dir (str, optional): ``teacher_confidence.py``'s output dir.
            Defaults to ``work_dir/teacher_confidence``.
        plots (bool): Write the PNGs. Defaults to True.
        conf_train_dir (str, optional): ``teacher_confidence.py``'s output
            dir on the students' train images. Defaults to ``conf_dir``
            + ``'_train'`` (where ``tools/run_ablation.py`` writes it).

    Returns:
        Dict[str, object]: :func:`collect`'s statistics plus ``markdown``,
        ``confidence`` and ``confidence_train``.
    """
    out_dir = out_dir or work_dir
    os.makedirs(out_dir, exist_ok=True)
    conf_dir = conf_dir or osp.join(work_dir, 'teacher_confidence')
    conf_train_dir = conf_train_dir or osp.normpath(conf_dir) + '_train'
    stats = collect(work_dir, run_names)
    confidence = _load_json(osp.join(conf_dir, 'summary.json'))
    confidence_train = _load_json(osp.join(conf_train_dir, 'summary.json'))
    figures: Dict[str, str] = {}
    if plots:
        dataset = (hyper or {}).get('dataset', '')
        if save_curves(stats, osp.join(out_dir, 'val_top1_curves.png'),
                       f'{dataset} val top-1 per epoch'.strip()):
            figures['per-epoch val top-1, mean over seeds'] = \
                'val_top1_curves.png'
        for src, name, what in (
                (conf_dir, 'teacher_w_hist.png', 'test split'),
                (conf_train_dir, 'teacher_w_hist_train.png',
                 "students' train images")):
            hist = osp.join(src, 'confidence_hist.png')
            if osp.isfile(hist):
                dst = osp.join(out_dir, name)
                if osp.abspath(hist) != osp.abspath(dst):
                    shutil.copyfile(hist, dst)
                figures[f"teacher's confidence weight w ({what})"] = name
    text = render_markdown(stats, hyper, confidence, figures,
                           confidence_train)
    with open(osp.join(out_dir, 'results.md'), 'w') as f:
        f.write(text)
    with open(osp.join(out_dir, 'results.json'), 'w') as f:
        json.dump(dict(rows=stats['rows'], teacher=stats['teacher'],
                       wall=stats['wall'], confidence=confidence,
                       confidence_train=confidence_train,
                       hyper=hyper,
                       runs={k: dict(v) for k, v in stats['runs'].items()}),
                  f, indent=2, default=str)
    write_runs_csv(stats, osp.join(out_dir, 'results.csv'))
    print(text)
    stats['markdown'] = text
    stats['confidence'] = confidence
    stats['confidence_train'] = confidence_train
    return stats


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, object]:
    """Summarise every run found under a work dir.

    Args:
        argv (Sequence[str], optional): Command line. Defaults to None.

    Returns:
        Dict[str, object]: See :func:`summarize`.
    """
    p = argparse.ArgumentParser(description='Summarise ablation runs')
    p.add_argument('work_dir')
    p.add_argument('--out-dir', default=None)
    args = p.parse_args(argv)
    names = sorted(
        osp.relpath(osp.dirname(path), args.work_dir)
        for path in glob.glob(osp.join(args.work_dir, '**', RUN_INFO),
                              recursive=True))
    return summarize(args.work_dir, names, out_dir=args.out_dir)


if __name__ == '__main__':
    main()