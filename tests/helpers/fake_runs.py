"""Fake run directories as ``tools/train.py`` (mmengine) and
``tools/run_ablation.py`` leave them, for the tests of the ablation driver
and its summary: ``<stamp>/vis_data/scalars.json`` per leg, the leg's
``<stamp>/<stamp>.log`` and the run's ``ablation_run.json``."""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

__all__ = ['RUN_INFO', 'write_run', 'write_run_info', 'write_log',
           'write_leg']

#: the run record tools/run_ablation.py writes (summarize_results.RUN_INFO)
RUN_INFO = 'ablation_run.json'


def write_run_info(run_dir: str, name: str, row: str, seed: int,
                   students: Dict[str, str], returncode: int = 0,
                   wall: float = 100.0,
                   command: Optional[str] = None) -> None:
    """The run's record: what ran, its exit status and its wall seconds.

    Args:
        run_dir (str): The run's work dir.
        name (str): The run's name (``'<row>-<student>/seed<k>'``).
        row (str): The ablation row.
        seed (int): The seed.
        students (Dict[str, str]): Student name -> metric prefix.
        returncode (int): The exit status. Defaults to 0.
        wall (float): Wall seconds of the last leg. Defaults to 100.
        command (str, optional): The command; ``python tools/train.py
            <name>`` when None. Defaults to None.
    """
    os.makedirs(run_dir, exist_ok=True)
    with open(osp.join(run_dir, RUN_INFO), 'w') as f:
        json.dump(dict(name=name, row=row, seed=seed, students=students,
                       command=command or f'python tools/train.py {name}',
                       returncode=returncode, wall_s=wall), f)


def write_run(work_dir: str, name: str, row: str, seed: int,
              students: Dict[str, str], curves: Dict[str, List[float]],
              epochs: Optional[Sequence[int]] = None, iters_per_epoch: int = 10,
              returncode: int = 0, timestamps: Optional[List[str]] = None,
              wall: float = 100.0) -> None:
    """A finished run: per leg, one train record and one val record per
    validated epoch in ``scalars.json``; then the run's record.

    Args:
        work_dir (str): The ablation's work dir.
        name (str): The run's name, a sub-folder of ``work_dir``.
        row (str): The ablation row.
        seed (int): The seed.
        students (Dict[str, str]): Student name -> metric prefix
            (``''`` for a single-model run).
        curves (Dict[str, List[float]]): Student name -> top-1 at each
            validated epoch; top-5 is top-1 + 40.
        epochs (Sequence[int], optional): The validated epochs; 1, 2, ...
            when None. Defaults to None.
        iters_per_epoch (int): Iterations an epoch in the train records.
            Defaults to 10.
        returncode (int): The run's exit status. Defaults to 0.
        timestamps (List[str], optional): One leg per stamp; every leg but
            the last (an interrupted attempt) logs top-1 50 points lower.
            One leg ``20260101_000000`` when None. Defaults to None.
        wall (float): Wall seconds in the run's record. Defaults to 100.
    """
    run_dir = osp.join(work_dir, name)
    stamps = timestamps or ['20260101_000000']
    first = next(iter(curves.values()))
    epochs = list(epochs or range(1, len(first) + 1))
    for leg, stamp in enumerate(stamps):
        offset = 50.0 if leg < len(stamps) - 1 else 0.0
        vis = osp.join(run_dir, stamp, 'vis_data')
        os.makedirs(vis)
        with open(osp.join(vis, 'scalars.json'), 'w') as f:
            for i, epoch in enumerate(epochs):
                it = epoch * iters_per_epoch
                f.write(json.dumps(dict(lr=0.1, loss=2.0, epoch=epoch,
                                        iter=it, step=it)) + '\n')
                rec = dict(step=epoch, data_time=0.1, time=1.0)
                for student, prefix in students.items():
                    top1 = curves[student][i] - offset
                    rec[f'{prefix}accuracy/top1'] = top1
                    rec[f'{prefix}accuracy/top5'] = top1 + 40.0
                f.write(json.dumps(rec) + '\n')
    write_run_info(run_dir, name, row, seed, students, returncode, wall)


def write_log(run_dir: str, stamp: str, times: List[str]) -> None:
    """One leg's mmengine log ``<stamp>/<stamp>.log``, a line stamped
    ``2026/01/01 HH:MM:SS`` per time (each followed by an unstamped one).

    Args:
        run_dir (str): The run's work dir.
        stamp (str): The leg's folder and log name.
        times (List[str]): ``HH:MM:SS`` of the log's stamped lines.
    """
    leg = osp.join(run_dir, stamp)
    os.makedirs(leg, exist_ok=True)
    with open(osp.join(leg, stamp + '.log'), 'w') as f:
        for t in times:
            f.write(f'2026/01/01 {t} - mmengine - INFO - Epoch(train) ...\n')
            f.write('    a continuation line without a time stamp\n')


def write_leg(run_dir: str, stamp: str, times: List[str], resume: bool,
              val: Dict[int, float], prefix: str = 'r18/') -> None:
    """A leg with mmengine's config dump (``resume = ...``) in its log and
    the val records of one student.

    Args:
        run_dir (str): The run's work dir.
        stamp (str): The leg's folder and log name.
        times (List[str]): ``HH:MM:SS`` of the log's stamped lines.
        resume (bool): Whether the leg resumed from a checkpoint.
        val (Dict[int, float]): Epoch -> top-1; top-5 is top-1 + 40.
        prefix (str): The student's metric prefix. Defaults to ``'r18/'``.
    """
    write_log(run_dir, stamp, times)
    with open(osp.join(run_dir, stamp, stamp + '.log'), 'a') as f:
        f.write(f'load_from = None\nresume = {resume}\n')
    vis = osp.join(run_dir, stamp, 'vis_data')
    os.makedirs(vis)
    with open(osp.join(vis, 'scalars.json'), 'w') as f:
        for epoch, top1 in val.items():
            f.write(json.dumps({'step': epoch, f'{prefix}accuracy/top1': top1,
                                f'{prefix}accuracy/top5': top1 + 40}) + '\n')
