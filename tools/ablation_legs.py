"""The legs of one ``tools/run_ablation.py`` run: each (re)start of
``tools/train.py`` in a run's work dir writes a new ``<timestamp>/`` folder.

A run resumed with ``--resume`` continues its earlier legs; a run restarted
from scratch (killed before its first checkpoint) discards them. The legs
that made a run's result are therefore the last one that started afresh
(its config dump says ``resume = False``) and every leg after it.
"""
import glob
import os.path as osp
import re
from datetime import datetime
from typing import List

__all__ = ['run_legs', 'leg_seconds']

_STAMP = re.compile(r'\d{8}_\d{6}')
_TIME = re.compile(r'^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d)')


def _log(leg: str) -> str:
    return osp.join(leg, osp.basename(leg) + '.log')


def _started_afresh(leg: str) -> bool:
    """Whether the leg's mmengine log records ``resume = False`` (a leg
    without a log, or one that does not say, counts as a continuation)."""
    try:
        with open(_log(leg), errors='replace') as f:
            return any(line.rstrip() == 'resume = False' for line in f)
    except OSError:
        return False


def run_legs(work_dir: str) -> List[str]:
    """The timestamp folders of the legs behind a run's result.

    Args:
        work_dir (str): The run's work dir.

    Returns:
        List[str]: Paths, oldest first: from the last leg that started
        afresh on (all legs when none says so).
    """
    legs = sorted(d for d in glob.glob(osp.join(work_dir, '*'))
                  if osp.isdir(d) and _STAMP.fullmatch(osp.basename(d)))
    start = 0
    for i, leg in enumerate(legs):
        if _started_afresh(leg):
            start = i
    return legs[start:]


def leg_seconds(work_dir: str) -> List[float]:
    """Wall seconds of every leg behind a run's result (:func:`run_legs`).

    A leg lasts from its log's first time-stamped line to its last. A killed
    leg never reaches ``ablation_run.json``, whose ``wall_s`` holds only the
    legs that ended, so a resumed run's time comes from here.

    Args:
        work_dir (str): The run's work dir.

    Returns:
        List[float]: Seconds per leg, in order of start; a leg without a
        log ``<timestamp>/<timestamp>.log`` is left out.
    """
    out = []
    for leg in run_legs(work_dir):
        if not osp.isfile(_log(leg)):
            continue
        with open(_log(leg), errors='replace') as f:
            t = [datetime.strptime(m.group(1), '%Y/%m/%d %H:%M:%S')
                 for m in map(_TIME.match, f) if m]
        out += [(t[-1] - t[0]).total_seconds()] if t else []
    return out
