"""tools/summarize_results.py: the report's student ensemble, best epoch
beside the last one, wall minutes per run and the teacher's confidence on
the students' train images, against hand-computed values on fake run dirs
validated every 5 epochs."""
import csv
import json
import math
import os
import os.path as osp
from typing import Dict, List

import pytest

from ..helpers.fake_runs import (RUN_INFO, write_leg, write_log, write_run,
                                 write_run_info)
from ..helpers.tool_modules import load_tool

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


summ = load_tool('summarize_results')

#: validation every 5 epochs, as the low-data configs do
EPOCHS = [5, 10, 15]
#: top-1 at epochs 5, 10, 15 per seed (chosen by hand); top-5 = top-1 + 40
UDSKD = {
    'r18': [[30.0, 45.0, 44.0],      # last 44, best 45 at epoch 10
            [31.0, 40.0, 46.0],      # last 46, best 46 at epoch 15
            [50.0, 42.0, 48.0]],     # last 48, best 50 at epoch 5
    'mbv2': [[20.0, 25.0, 25.0],     # a tie: best 25 at epoch 10 (earliest)
             [20.0, 30.0, 28.0],
             [22.0, 26.0, 27.0]],
    'ensemble': [[40.0, 51.0, 49.0],  # last 49, best 51 at epoch 10
                 [41.0, 47.0, 52.0],  # last 52, best 52 at epoch 15
                 [45.0, 50.0, 55.0]],  # last 55, best 55 at epoch 15
}
#: seconds per run
WALL = {'udskd': [1800.0, 2400.0, 3000.0], 'kd': [600.0, 720.0],
        'kd-conf': [300.0], 'teacher': [7200.0]}


def _write_run(work_dir: str, name: str, row: str, seed: int,
               students: Dict[str, str], curves: Dict[str, List[float]],
               wall: float) -> None:
    """A finished run validated every 5 epochs (16 iterations an epoch)."""
    write_run(work_dir, name, row, seed, students, curves, epochs=EPOCHS,
              iters_per_epoch=16, wall=wall)


def test_fake_runs_write_the_record_the_summary_reads():
    assert RUN_INFO == summ.RUN_INFO


def _confidence(weight_mean: float, num_samples: int) -> Dict[str, object]:
    return dict(num_samples=num_samples, num_classes=10,
                log_num_classes=math.log(10), weight_mean=weight_mean,
                entropy_t1=0.5, entropy_tau=1.5, tau=4.0,
                uncertain_ratio=0.125)


@pytest.fixture()
def report(tmp_path) -> Dict[str, object]:
    wd = str(tmp_path / 'abl')
    names = ['teacher']
    _write_run(wd, 'teacher', 'teacher', 0, {'teacher': ''},
               {'teacher': [50.0, 55.0, 58.0]}, WALL['teacher'][0])
    dual = {'r18': 'r18/', 'mbv2': 'mbv2/', 'ensemble': 'ensemble/'}
    for seed in range(3):
        name = f'udskd/seed{seed}'
        _write_run(wd, name, 'udskd', seed, dual,
                   {s: UDSKD[s][seed] for s in dual}, WALL['udskd'][seed])
        names.append(name)
    for seed, wall in enumerate(WALL['kd']):
        for student in ('r18', 'mbv2'):
            name = f'kd-{student}/seed{seed}'
            _write_run(wd, name, 'kd', seed, {student: ''},
                       {student: [30.0, 35.0, 40.0 + seed]}, wall)
            names.append(name)
    _write_run(wd, 'kd-conf-r18/seed0', 'kd-conf', 0, {'r18': ''},
               {'r18': [30.0, 35.0, 41.0]}, WALL['kd-conf'][0])
    names.append('kd-conf-r18/seed0')
    for sub, w, n in (('teacher_confidence', 0.734, 10000),
                      ('teacher_confidence_train', 0.812, 1000)):
        os.makedirs(osp.join(wd, sub))
        with open(osp.join(wd, sub, 'summary.json'), 'w') as f:
            json.dump(_confidence(w, n), f)
    return summ.summarize(wd, names, out_dir=str(tmp_path / 'out'),
                          conf_dir=osp.join(wd, 'teacher_confidence'),
                          plots=False)


def _cells(md: str, heading: str, label: str) -> List[str]:
    """The cells of the row starting with ``label`` in the table under the
    first heading containing ``heading``."""
    lines = md.split('\n')
    start = next(i for i, ln in enumerate(lines)
                 if ln.startswith('#') and heading in ln)
    for ln in lines[start + 1:]:
        if ln.startswith('#'):
            break
        if ln.startswith(f'| {label} |'):
            return [c.strip() for c in ln.strip('|').split('|')][1:]
    raise AssertionError(f'no row {label!r} under {heading!r}')


def test_best_epoch_beside_last(report):
    r18 = report['rows']['udskd']['r18']
    assert r18['top1'] == [44.0, 46.0, 48.0]           # last: reported
    assert r18['last_epochs'] == [15, 15, 15]
    assert r18['best_top1'] == [45.0, 46.0, 50.0]
    assert r18['best_epochs'] == [10, 15, 5]
    # best: mean 47, deviations -2, -1, 3 -> std sqrt(14 / 2)
    assert r18['best_top1_mean'] == pytest.approx(47.0)
    assert r18['best_top1_std'] == pytest.approx(math.sqrt(7.0))
    assert report['rows']['udskd']['mbv2']['best_epochs'] == [10, 10, 15]
    # the mean curve sits on the validated epochs, not 1, 2, 3
    assert r18['curve_epochs'] == EPOCHS
    assert r18['curve'] == pytest.approx([37.0, 127.0 / 3, 46.0])
    md = report['markdown']
    label = summ.ROW_LABELS['udskd']
    # the headline table keeps the last epoch
    assert _cells(md, 'Top-1 / top-5', label)[:2] == ['46.00 ± 2.00',
                                                      '86.00 ± 2.00']
    cells = _cells(md, 'Last and best epoch', label)
    assert cells[0] == '46.00 ± 2.00 (15)'
    assert cells[1] == f'47.00 ± {math.sqrt(7.0):.2f} (10, 15, 5)'
    assert cells[1] == '47.00 ± 2.65 (10, 15, 5)'
    # mbv2 last 25, 28, 27: mean 80 / 3, deviations -5/3, 4/3, 1/3
    mb_std = math.sqrt((25 + 16 + 1) / 9 / 2)
    assert cells[2] == f'{80 / 3:.2f} ± {mb_std:.2f} (15)'
    assert cells[3].endswith('(10, 10, 15)')
    # a single-student row: last 40, 41 at epoch 15, best the same
    kd = _cells(md, 'Last and best epoch', summ.ROW_LABELS['kd'])
    assert kd[0] == kd[1] == f'40.50 ± {math.sqrt(0.5):.2f} (15)'


def test_student_ensemble_of_dual_rows(report):
    ens = report['rows']['udskd']['ensemble']
    assert ens['seeds'] == [0, 1, 2]
    assert ens['top1'] == [49.0, 52.0, 55.0]
    assert ens['top1_mean'] == pytest.approx(52.0)
    assert ens['top1_std'] == pytest.approx(3.0)       # sqrt((9+0+9)/2)
    assert ens['best_top1'] == [51.0, 52.0, 55.0]
    assert ens['best_epochs'] == [10, 15, 15]
    # the ensemble is not a student: no paired test against KD
    assert 'vs_kd' not in ens
    assert 'ensemble' not in report['rows']['kd']
    md = report['markdown']
    cells = _cells(md, 'Student ensemble', summ.ROW_LABELS['udskd'])
    # best: mean 158 / 3, deviations -5/3, -2/3, 7/3
    best_std = math.sqrt((25 + 4 + 49) / 9 / 2)
    assert cells == ['52.00 ± 3.00', '92.00 ± 3.00',
                     f'{158 / 3:.2f} ± {best_std:.2f} (10, 15, 15)',
                     '0,1,2 (3)']
    with pytest.raises(AssertionError, match='no row'):
        _cells(md, 'Student ensemble', summ.ROW_LABELS['kd'])


def test_wall_minutes_per_run(report):
    md = report['markdown']
    both = ' (both students in one run)'
    one = ' (one student per run)'
    # 30, 40, 50 min
    assert _cells(md, 'Wall time per run',
                  summ.ROW_LABELS['udskd'] + both) == ['40.0 ± 10.0', '3']
    # 10 and 12 min, 2 runs per seed (one per student)
    assert _cells(md, 'Wall time per run', summ.ROW_LABELS['kd'] + one) == [
        f'11.0 ± {math.sqrt(4 / 3):.1f}', '4']
    assert _cells(md, 'Wall time per run',
                  summ.ROW_LABELS['kd-conf'] + one) == ['5.0', '1']
    assert _cells(md, 'Wall time per run', 'teacher training') == [
        '120.0', '1']
    assert report['wall']['udskd']['students_per_run'] == 2
    assert report['wall']['kd-conf']['students_per_run'] == 1


def test_teacher_confidence_on_test_and_train_images(report):
    md = report['markdown']
    test = next(ln for ln in md.split('\n')
                if ln.startswith('* confidence on the test split'))
    train = next(ln for ln in md.split('\n')
                 if ln.startswith("* confidence on the students' train"))
    assert '(10000 images' in test and 'mean w = 0.734' in test
    assert '(1000 images' in train and 'mean w = 0.812' in train
    assert 'share with w < 0.5: 12.5%' in train
    assert report['confidence_train']['weight_mean'] == 0.812
    assert '* test top-1 58.00%, top-5 98.00% (after epoch 15)' in md


def test_resumed_teacher_counts_its_killed_legs(tmp_path):
    """A teacher killed after 30 min and resumed for 90 more: the record
    (written when the last leg ended) holds 90 min, its logs 120."""
    wd = str(tmp_path / 'abl')
    _write_run(wd, 'teacher', 'teacher', 0, {'teacher': ''},
               {'teacher': [50.0, 55.0, 58.0]}, 5400.0)
    teacher = osp.join(wd, 'teacher')
    write_log(teacher, '20260101_100000', ['10:00:05', '10:10:00', '10:30:05'])
    write_log(teacher, '20260101_110000', ['11:00:00', '12:30:00'])
    # not a leg: a folder of another name, a log of another name
    write_log(teacher, 'notes', ['00:00:00', '09:00:00'])
    os.makedirs(osp.join(teacher, '20260101_130000'))
    with open(osp.join(teacher, '20260101_130000', 'other.log'), 'w') as f:
        f.write('2026/01/01 13:00:00 x\n2026/01/01 15:00:00 y\n')
    assert summ.leg_seconds(teacher) == [1800.0, 5400.0]
    info_path = osp.join(teacher, summ.RUN_INFO)
    with open(info_path) as f:
        info = json.load(f)

    def teacher_row() -> List[str]:
        out = summ.summarize(wd, ['teacher'], out_dir=str(tmp_path / 'out'),
                             plots=False)
        return [ln for ln in out['markdown'].split('\n')
                if ln.startswith('| teacher training')]

    # without --resume the legs are separate runs: the record is the time
    assert teacher_row() == ['| teacher training | 90.0 | 1 |']
    info['command'] = 'python tools/train.py cfg.py --work-dir x --resume'
    with open(info_path, 'w') as f:
        json.dump(info, f)
    assert teacher_row() == ['| teacher training (2 resumed legs) | 120.0 '
                             '| 1 |']


def test_summary_table_comes_first(report):
    """Top-1, the paired gain over KD and the ensemble in one table that
    opens the report. udskd r18 last 44, 46, 48 vs kd 40, 41 (seeds 0, 1):
    differences 4, 5, t = 4.5 / (sqrt(.5) / sqrt(2)) = 9 with one degree of
    freedom, whose two-sided p is 1 - 2 atan(9) / pi."""
    md = report['markdown']
    assert md.startswith('### Summary')
    cells = _cells(md, 'Summary', summ.ROW_LABELS['udskd'])
    p_r18 = 1 - 2 * math.atan(9.0) / math.pi             # 0.0704
    # mbv2 25, 28, 27 vs 40, 41: differences -15, -13, t = -14
    p_mbv2 = 1 - 2 * math.atan(14.0) / math.pi           # 0.0454
    assert cells == ['46.00 ± 2.00', f'+4.50 (p {p_r18:.3f}, n 2)',
                     f'{80 / 3:.2f} ± {math.sqrt(42 / 18):.2f}',
                     f'-14.00 (p {p_mbv2:.3f}, n 2)', '52.00 ± 3.00',
                     '0,1,2']
    assert cells[1] == '+4.50 (p 0.070, n 2)'
    kd = _cells(md, 'Summary', summ.ROW_LABELS['kd'])
    assert kd == [f'40.50 ± {math.sqrt(0.5):.2f}', '', '40.50 ± 0.71', '',
                  '', '0,1']
    # a row with one seed has no test; one student only: its seeds
    conf = _cells(md, 'Summary', summ.ROW_LABELS['kd-conf'])
    assert conf[:2] == ['41.00', '+1.00 (p n/a, n 1)']
    assert conf[2:] == ['—', '—', '', '0']


def test_summary_names_the_seeds_of_each_student_when_they_differ(tmp_path):
    """KD's MobileNetV2 of seed 1 still running: seeds per student."""
    wd = str(tmp_path / 'abl')
    names = []
    for student, seeds in (('r18', (0, 1)), ('mbv2', (0,))):
        for seed in seeds:
            name = f'kd-{student}/seed{seed}'
            _write_run(wd, name, 'kd', seed, {student: ''},
                       {student: [30.0, 35.0, 40.0 + seed]}, 600.0)
            names.append(name)
    md = summ.summarize(wd, names, out_dir=str(tmp_path / 'out'),
                        plots=False)['markdown']
    cells = _cells(md, 'Summary', summ.ROW_LABELS['kd'])
    assert cells[0] == f'40.50 ± {math.sqrt(0.5):.2f}' and cells[2] == '40.00'
    assert cells[-1] == 'ResNet-18 0,1; MobileNetV2 0'


def test_student_run_restarted_then_resumed(tmp_path):
    """Leg A (fresh, saving only at the end) was killed after epoch 20, so
    leg B started from scratch; B was killed after epoch 10 and leg C
    resumed it. The result is B + C: A's records (99 % at epochs 5 and 20)
    and time are dropped, C's record (written when it ended) holds 15 of
    B + C's 45 minutes."""
    wd = str(tmp_path / 'abl')
    run = osp.join(wd, 'udskd', 'seed0')
    write_leg(run, '20260101_080000', ['08:00:00', '08:20:00'], False,
         {5: 99.0, 20: 99.0})
    write_leg(run, '20260101_090000', ['09:00:00', '09:30:00'], False,
         {5: 30.0, 10: 40.0})
    write_leg(run, '20260101_100000', ['10:00:00', '10:15:00'], True, {15: 45.0})
    write_run_info(run, 'udskd/seed0', 'udskd', 0, {'r18': 'r18/'},
                   wall=900.0, command='python tools/train.py c.py --resume')
    assert [osp.basename(p) for p in summ.run_legs(run)] == [
        '20260101_090000', '20260101_100000']
    assert summ.leg_seconds(run) == [1800.0, 900.0]
    out = summ.summarize(wd, ['udskd/seed0'], out_dir=str(tmp_path / 'out'),
                         plots=False)
    r18 = out['rows']['udskd']['r18']
    assert r18['curve'] == [30.0, 40.0, 45.0]
    assert r18['curve_epochs'] == [5, 10, 15]
    assert r18['best_top1'] == [45.0]
    assert _cells(out['markdown'], 'Wall time per run',
                  summ.ROW_LABELS['udskd'] + ' (one student per run)'
                  ) == ['45.0', '1']


def test_curve_matches_seeds_by_epoch(tmp_path):
    """Seed 1 was killed between its epoch-10 checkpoint and that epoch's
    validation and resumed: it validated at 5, 15, 20 only. The mean curve
    pairs the seeds epoch by epoch over the epochs both validated: 5 ->
    (30 + 32) / 2, 15 -> (40 + 46) / 2, 20 -> (44 + 48) / 2; seed 0's
    epoch 10 (35) is left out. Matched by position, seed 1's 46 would be
    averaged into epoch 10 and the curve would end at epoch 15."""
    wd = str(tmp_path / 'abl')
    write_run(wd, 'kd-r18/seed0', 'kd', 0, {'r18': ''},
              {'r18': [30.0, 35.0, 40.0, 44.0]}, epochs=[5, 10, 15, 20])
    write_run(wd, 'kd-r18/seed1', 'kd', 1, {'r18': ''},
              {'r18': [32.0, 46.0, 48.0]}, epochs=[5, 15, 20])
    out = summ.summarize(wd, ['kd-r18/seed0', 'kd-r18/seed1'],
                         out_dir=str(tmp_path / 'out'), plots=False)
    r18 = out['rows']['kd']['r18']
    assert r18['curve_epochs'] == [5, 15, 20]
    assert r18['curve'] == [31.0, 43.0, 46.0]
    assert r18['top1'] == [44.0, 48.0] and r18['last_epochs'] == [20, 20]


def test_runs_csv_one_line_per_seed(report, tmp_path):
    """results.csv: 3 UDSKD seeds x (r18, mbv2, ensemble), 2 KD seeds x 2
    students, 1 KD-with-w run: 9 + 4 + 1 = 14 lines, each with its last
    and best epoch."""
    with open(tmp_path / 'out' / 'results.csv') as f:
        lines = list(csv.DictReader(f))
    assert len(lines) == 14
    by_key = {(ln['row'], ln['student'], int(ln['seed'])): ln
              for ln in lines}
    # udskd r18 seed 2: 50, 42, 48 at epochs 5, 10, 15
    assert by_key[('udskd', 'r18', 2)] == dict(
        row='udskd', student='r18', seed='2', top1='48.00', top5='88.00',
        last_epoch='15', best_top1='50.00', best_epoch='5')
    assert by_key[('udskd', 'ensemble', 1)]['top1'] == '52.00'
    assert by_key[('kd', 'mbv2', 1)]['top1'] == '41.00'
    assert ('kd-conf', 'mbv2', 0) not in by_key
