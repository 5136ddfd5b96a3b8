"""tools/run_ablation.py and tools/summarize_results.py: statistics against
hand computation on synthetic work dirs, dry-run commands and resume-skip."""
import json
import math
import os
import os.path as osp
import socket
import subprocess
import sys

import numpy as np
import pytest

from ..helpers.fake_runs import write_run as _write_run
from ..helpers.tool_modules import load_tool

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


summ = load_tool('summarize_results')
abl = load_tool('run_ablation')

#: last-epoch top-1 per (row, student) over seeds 0, 1, 2 (chosen by hand)
TOP1 = {
    ('kd', 'r18'): [40.0, 42.0, 44.0],
    ('kd', 'mbv2'): [30.0, 31.0, 35.0],
    ('udskd', 'r18'): [43.0, 44.0, 48.0],     # diffs 3, 2, 4
    ('udskd', 'mbv2'): [29.0, 33.0, 36.0],    # diffs -1, 2, 1
}


@pytest.fixture()
def synthetic(tmp_path) -> str:
    wd = str(tmp_path / 'abl')
    _write_run(wd, 'teacher', 'teacher', 0, {'teacher': ''},
               {'teacher': [50.0, 60.0]}, wall=300.0)
    for seed in range(3):
        for student in ('r18', 'mbv2'):
            last = TOP1[('kd', student)][seed]
            _write_run(wd, f'kd-{student}/seed{seed}', 'kd', seed,
                       {student: ''}, {student: [last - 10, last]},
                       wall=100.0 + 10 * seed)
        _write_run(
            wd, f'udskd/seed{seed}', 'udskd', seed,
            {'r18': 'r18/', 'mbv2': 'mbv2/'},
            {s: [TOP1[('udskd', s)][seed] - 5, TOP1[('udskd', s)][seed]]
             for s in ('r18', 'mbv2')},
            timestamps=(['20260101_000000', '20260101_010000']
                        if seed == 1 else None))
    # a failed run is ignored
    _write_run(wd, 'uncertainty/seed0', 'uncertainty', 0,
               {'r18': 'r18/', 'mbv2': 'mbv2/'},
               {'r18': [99.0, 99.0], 'mbv2': [99.0, 99.0]}, returncode=1)
    return wd


def _two_sided_p_df2(t: float) -> float:
    """Two-sided p of Student's t with 2 degrees of freedom, in closed form:
    its CDF is 1/2 + t / (2 sqrt(t^2 + 2))."""
    return 1.0 - abs(t) / math.sqrt(t * t + 2.0)


def test_summary_matches_hand_computation(synthetic, tmp_path):
    from scipy import stats
    names = ['teacher', 'uncertainty/seed0'] + [
        f'{r}/seed{s}' for s in range(3)
        for r in ('kd-r18', 'kd-mbv2', 'udskd')]
    out = str(tmp_path / 'out')
    res = summ.summarize(synthetic, names, out_dir=out,
                         hyper=dict(dataset='synthetic'))
    rows = res['rows']
    assert list(rows) == ['kd', 'udskd']   # failed 'uncertainty' dropped
    kd, ud = rows['kd']['r18'], rows['udskd']['r18']
    assert kd['top1'] == [40.0, 42.0, 44.0]
    assert kd['top1_mean'] == pytest.approx(42.0)
    assert kd['top1_std'] == pytest.approx(2.0)        # sqrt((4+0+4)/2)
    assert kd['top5_mean'] == pytest.approx(82.0)
    # the resumed seed-1 run: the later timestamp dir wins
    assert ud['top1'] == [43.0, 44.0, 48.0]
    assert ud['curve'] == pytest.approx([45.0 - 5, 45.0])
    vs = ud['vs_kd']['top1']
    assert vs['n'] == 3 and vs['gain'] == pytest.approx(3.0)
    assert vs['gain_std'] == pytest.approx(1.0)
    t_hand = 3.0 / (1.0 / math.sqrt(3))
    p_hand = _two_sided_p_df2(t_hand)
    assert vs['t'] == pytest.approx(t_hand)
    assert vs['p'] == pytest.approx(p_hand)
    assert p_hand == pytest.approx(2 * stats.t.sf(t_hand, df=2))
    mb = rows['udskd']['mbv2']['vs_kd']['top1']
    diffs = np.array([-1.0, 2.0, 1.0])
    assert mb['gain'] == pytest.approx(diffs.mean())
    assert mb['gain_std'] == pytest.approx(diffs.std(ddof=1))
    t_mb = diffs.mean() / (diffs.std(ddof=1) / math.sqrt(3))
    assert mb['t'] == pytest.approx(t_mb)
    assert mb['p'] == pytest.approx(_two_sided_p_df2(t_mb))
    assert res['wall']['kd']['mean'] == pytest.approx(110.0)
    assert res['wall']['kd']['n'] == 6
    assert res['teacher']['top1'] == 60.0
    md = res['markdown']
    assert '42.00 ± 2.00' in md and '+3.00 ± 1.00' in md
    assert f'{p_hand:.3f} (3)' in md
    assert 'python tools/train.py udskd/seed2' in md
    for fname in ('results.md', 'results.json', 'val_top1_curves.png'):
        assert osp.isfile(osp.join(out, fname))


def test_paired_test_edge_cases():
    one = summ.paired_test([1.0], [0.0])
    assert one['n'] == 1 and math.isnan(one['p'])
    const = summ.paired_test([2.0, 3.0], [1.0, 2.0])   # diffs do not vary
    assert const['gain'] == 1.0 and math.isnan(const['p'])
    assert summ.mean_std([])[2] == 0


def test_pairs_by_seed_not_by_order_and_skips_missing_seeds(tmp_path):
    """KD and UDSKD are paired seed by seed, only on the seeds both rows
    finished: sorting each row's values (or pairing in listing order) would
    give the differences 3, 3, 3 here instead of -1, 7, 3."""
    wd = str(tmp_path / 'abl')
    kd = {0: 44.0, 1: 40.0, 2: 42.0, 3: 50.0}      # seed 3: KD only
    ours = {0: 43.0, 1: 47.0, 2: 45.0, 4: 60.0}    # seed 4: UDSKD only
    for seed, top1 in kd.items():
        _write_run(wd, f'kd-r18/seed{seed}', 'kd', seed, {'r18': ''},
                   {'r18': [top1 - 1, top1]})
    for seed, top1 in ours.items():
        _write_run(wd, f'udskd/seed{seed}', 'udskd', seed,
                   {'r18': 'r18/', 'mbv2': 'mbv2/'},
                   {'r18': [top1 - 1, top1], 'mbv2': [10.0, 20.0]})
    # listed in neither seed nor value order
    names = ['udskd/seed2', 'kd-r18/seed1', 'udskd/seed4', 'kd-r18/seed3',
             'udskd/seed0', 'kd-r18/seed2', 'kd-r18/seed0', 'udskd/seed1']
    rows = summ.collect(wd, names)['rows']
    ud = rows['udskd']['r18']
    assert ud['seeds'] == [0, 1, 2, 4] and ud['top1'] == [43, 47, 45, 60]
    assert ud['top1_mean'] == pytest.approx(48.75)
    assert rows['kd']['r18']['seeds'] == [0, 1, 2, 3]
    vs = ud['vs_kd']
    assert vs['seeds'] == [0, 1, 2]
    top1 = vs['top1']
    # differences by seed: -1, 7, 3 -> mean 3, std 4
    assert top1['n'] == 3
    assert top1['gain'] == pytest.approx(3.0)
    assert top1['gain_std'] == pytest.approx(4.0)
    t_hand = 3.0 / (4.0 / math.sqrt(3))
    assert top1['t'] == pytest.approx(t_hand)
    assert top1['p'] == pytest.approx(_two_sided_p_df2(t_hand))
    assert 0.3 < top1['p'] < 0.35
    # top-5 is top-1 + 40 in these runs: the same differences
    assert vs['top5']['gain'] == pytest.approx(3.0)
    # no KD run of mbv2: nothing to compare with
    assert 'vs_kd' not in rows['udskd']['mbv2']


def _dry(tmp_path, *extra: str) -> dict:
    data = tmp_path / 'data'
    data.mkdir(exist_ok=True)
    return abl.main(['--dataset', 'cifar10', '--data-root', str(data),
                     '--work-dir', str(tmp_path / 'wd'), '--seeds', '0',
                     '1', '--epochs', '2', '--teacher-epochs', '4',
                     '--dry-run', '--cfg-options',
                     'train_dataloader.batch_size=8', *extra])


def test_dry_run_commands(tmp_path, capsys):
    res = _dry(tmp_path)
    assert res['runs'][0] == 'teacher'
    assert len(res['runs']) == 1 + 2 * 6 and res['todo'] == res['runs']
    assert 'summary' not in res
    cmds = dict(zip(res['runs'], res['commands']))
    wd = str(tmp_path / 'wd')
    data = str(tmp_path / 'data')
    t = cmds['teacher']
    assert 'configs/baselines/resnet50_1xb64_cifar10.py' in t
    assert 'train_cfg.max_epochs=4 param_scheduler.end=4 ' \
           'param_scheduler.T_max=4' in t
    assert f'data_root={data}' in t
    kd = cmds['kd-mbv2/seed1']
    assert 'configs/kd/kd_logits_resnet50_mobilenet-v2_1xb64_cifar10.py' in kd
    assert 'randomness.seed=1' in kd and 'train_cfg.max_epochs=2' in kd
    # 2 epochs: a checkpoint at the end only (every 5 would be never)
    assert 'default_hooks.checkpoint.interval=2 ' in kd
    assert f'model.teacher_ckpt={wd}/teacher/epoch_4.pth' in kd
    assert 'val_cfg.type=ValLoop' in kd
    # the passthrough options come last, so they win
    assert kd.endswith('train_dataloader.batch_size=8')
    hard = cmds['hard-r18/seed0']
    assert 'configs/baselines/resnet18_1xb64_cifar10.py' in hard
    assert 'teacher_ckpt' not in hard
    up = cmds['uncertainty/seed0']
    assert '_no-peer_1xb64_cifar10.py' in up
    assert 'model.val_teacher=False' in up
    assert f'--work-dir {wd}/uncertainty/seed0' in up
    assert 'no-uncertainty' not in ' '.join(res['runs'])
    printed = capsys.readouterr().out
    assert printed.count('\nrun  ') == 13 and 'teacher_confidence.py' in \
        printed


def test_rows_and_teacher_ckpt(tmp_path):
    res = _dry(tmp_path, '--rows', 'no-uncertainty', '--teacher-ckpt',
               '/x/t.pth')
    assert res['runs'] == ['no-uncertainty/seed0', 'no-uncertainty/seed1']
    assert '_no-uncertainty_1xb64_cifar10.py' in res['commands'][0]
    assert 'model.teacher_ckpt=/x/t.pth' in res['commands'][0]


def test_resume_skip(tmp_path, capsys):
    wd = tmp_path / 'wd'
    done = wd / 'kd-r18' / 'seed0'
    done.mkdir(parents=True)
    (done / summ.RUN_INFO).write_text(json.dumps(dict(returncode=0)))
    failed = wd / 'hard-r18' / 'seed0'
    failed.mkdir(parents=True)
    (failed / summ.RUN_INFO).write_text(json.dumps(dict(returncode=1)))
    partial = wd / 'udskd' / 'seed1'
    partial.mkdir(parents=True)
    (partial / 'last_checkpoint').write_text('epoch_1.pth')
    res = _dry(tmp_path)
    assert 'kd-r18/seed0' not in res['todo']
    assert 'hard-r18/seed0' in res['todo']        # failed: run again
    assert len(res['todo']) == len(res['runs']) - 1
    cmds = dict(zip(res['runs'], res['commands']))
    assert '--resume' in cmds['udskd/seed1']       # interrupted: resume
    assert '--resume' not in cmds['udskd/seed0']
    assert 'skip kd-r18/seed0' in capsys.readouterr().out


def test_execute_records_and_locks(tmp_path, monkeypatch):
    run = abl.Run('hard-r18/seed3', 'hard', 'configs/x.py',
                  str(tmp_path / 'hard-r18' / 'seed3'), 3, {'r18': ''},
                  ['randomness.seed=3'])
    monkeypatch.setattr(abl.Run, 'command', lambda self, python=None: [
        sys.executable, '-c', 'print("trained")'])
    os.makedirs(run.work_dir)
    lock = osp.join(run.work_dir, abl.LOCK)
    with open(lock, 'w') as f:            # another instance trains it
        f.write(f'{socket.gethostname()} {os.getpid()}\n')
    assert abl.execute(run, 1) == -1
    assert not summ.is_finished(run.work_dir)
    os.remove(lock)
    assert abl.execute(run, 1) == 0
    assert summ.is_finished(run.work_dir) and not osp.exists(lock)
    with open(osp.join(run.work_dir, summ.RUN_INFO)) as f:
        info = json.load(f)
    assert info['seed'] == 3 and info['cfg_options'] == ['randomness.seed=3']
    assert info['wall_s'] >= 0 and 'print' in info['command']
    with open(osp.join(run.work_dir, 'ablation_stdout.log')) as f:
        assert 'trained' in f.read()


def test_stale_lock_of_a_killed_instance_is_taken_over(tmp_path):
    gone = subprocess.Popen([sys.executable, '-c', 'pass'])
    gone.wait()  # a process of this host that no longer runs
    lock = str(tmp_path / abl.LOCK)
    host = socket.gethostname()
    with open(lock, 'w') as f:
        f.write(f'{host} {gone.pid}\n')
    assert abl.take_lock(lock)
    with open(lock) as f:
        assert f.read().split() == [host, str(os.getpid())]
    assert not abl.take_lock(lock)  # now held by a live process (this one)
    with open(lock, 'w') as f:      # another machine's instance: kept
        f.write(f'not-{host} {gone.pid}\n')
    assert not abl.take_lock(lock)
    open(lock, 'w').close()         # empty and fresh: its owner may be
    assert not abl.take_lock(lock)  # about to write
    os.utime(lock, (0, 0))          # empty and old: stale
    assert abl.take_lock(lock)


def test_resize_dry_run_sets_train_crop(tmp_path):
    res = _dry(tmp_path, '--resize', '32', '--dataset', 'tiny100')
    for cmd in res['commands']:
        assert 'train_dataloader.dataset.pipeline.1.crop_size=32 ' \
               'train_dataloader.dataset.pipeline.1.padding=4' in cmd


@pytest.mark.parametrize('dataset', ['cifar10', 'tiny100', 'tiny200'])
def test_resize_pipeline_index_is_the_random_crop(dataset, tmp_path):
    """--resize addresses `pipeline.1` of every config the tool runs."""
    from mmengine.config import Config
    res = abl.main(['--dataset', dataset, '--data-root', '/nowhere',
                    '--work-dir', str(tmp_path / 'wd'), '--dry-run',
                    '--resize', '32', '--seeds', '0', '--rows', 'hard', 'kd',
                    'uncertainty', 'udskd', 'no-uncertainty'])
    configs = {c.split()[2] for c in res['commands']}
    assert len(configs) == 1 + 2 + 2 + 3
    for path in configs:
        cfg = Config.fromfile(osp.join(REPO, path))
        crop = cfg.train_dataloader.dataset.pipeline[1]
        assert crop['type'] == 'RandomCrop', (path, crop)
        assert {'crop_size', 'padding'} <= set(crop), (path, crop)


def test_make_subset_resize(tmp_path):
    from PIL import Image

    from mmrazor_udskd.utils import make_subset
    src = tmp_path / 'src' / 'train'
    for cls in ('a', 'b'):
        (src / cls).mkdir(parents=True)
        for i in range(3):
            # a 64x64 image of 2x2-pixel tiles: each box averages to v
            v = 60 + i * 40
            arr = np.full((64, 64, 3), v, np.uint8)
            arr[::2, ::2] = v + 20
            arr[1::2, 1::2] = v - 20
            Image.fromarray(arr).save(src / cls / f'{i}.png')
    out = tmp_path / 'out'
    make_subset(str(tmp_path / 'src'), 'train', 2, str(out), resize=32)
    files = sorted(p.relative_to(out).as_posix()
                   for p in out.rglob('*') if p.is_file())
    assert files == ['train/a/0.png', 'train/a/1.png', 'train/b/0.png',
                     'train/b/1.png']
    for name in files:
        path = out / name
        assert not path.is_symlink()
        with Image.open(path) as img:
            assert img.size == (32, 32) and img.mode == 'RGB'
            small = np.asarray(img)
        i = int(path.stem)
        assert np.all(small == 60 + i * 40), (name, np.unique(small))


def test_lowdata_protocol_plan(tmp_path):
    """cifar10-lowdata: the teacher on the FULL train split with its own
    schedule (no epoch overrides, a checkpoint every epoch), every student
    row on the per-class subset, each row's config from the protocol's
    folder, and a missing row config refused by name."""
    res = abl.main(['--dataset', 'cifar10-lowdata', '--data-root', '/full',
                    '--work-dir', str(tmp_path), '--dry-run', '--seeds',
                    '0', '--rows', 'hard', 'kd', 'kd-conf', 'dkd',
                    'uncertainty', 'udskd', 'no-uncertainty'])
    cmds = dict(zip(res['runs'], res['commands']))
    assert len(cmds) == 1 + 4 * 2 + 3
    teacher = cmds['teacher']
    assert 'configs/lowdata_cifar10/resnet50-w16_1xb128_cifar10.py' in teacher
    assert 'data_root=/full ' in teacher
    assert 'max_epochs' not in teacher and 'param_scheduler' not in teacher
    assert 'default_hooks.checkpoint.interval=1' in teacher
    for name, cmd in cmds.items():
        assert cmd.split()[2].startswith('configs/lowdata_cifar10/')
        assert osp.isfile(osp.join(REPO, cmd.split()[2])), cmd
        if name != 'teacher':
            assert f'data_root={tmp_path}/data ' in cmd
            assert 'train_cfg.max_epochs=40' in cmd
            # a student run stopped at any point resumes within 5 epochs
            assert ('default_hooks.checkpoint.interval=5 '
                    'default_hooks.checkpoint.max_keep_ckpts=1') in cmd
            assert (f'model.teacher_ckpt={tmp_path}/teacher/epoch_20.pth'
                    in cmd) == (not name.startswith('hard'))
    assert 'resnet18-w16' in cmds['dkd-r18/seed0']
    assert 'mobilenet-v2-w0.5' in cmds['kd-conf-mbv2/seed0']
    with pytest.raises(ValueError,
                       match='kd-conf_logits_resnet50_resnet18_1xb64_tiny200'):
        abl.main(['--dataset', 'tiny200', '--data-root', '/x', '--work-dir',
                  str(tmp_path), '--dry-run', '--rows', 'kd-conf'])
