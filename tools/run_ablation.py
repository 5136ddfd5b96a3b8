"""Run the UDSKD ablation (arXiv 2511.18826, Table "ablation") on one data set.

For one data set the tool

1. prepares the data (``--data-root``, or the archives in ``../shared/data``
   via :func:`mmrazor_udskd.utils.extract_dataset`, optionally cut to a
   class-balanced CPU-scale subset with ``--train-per-class`` /
   ``--test-per-class``),
2. trains the ResNet-50 teacher (or takes ``--teacher-ckpt``),
3. trains, for every seed, the ablation rows for both students:

   ============== ==========================================================
   row            configs
   ============== ==========================================================
   hard           ``configs/baselines/{resnet18,mobilenet-v2}_1xb64_<ds>.py``
   kd             ``configs/kd/kd_logits_resnet50_<student>_1xb64_<ds>.py``
                  (MMRazor's built-in KD, alpha .3 beta .7, tau 4)
   uncertainty    UDSKD ``no-peer`` config (entropy weighting, gamma = 0)
   udskd          full UDSKD (entropy weighting + peer, gamma .2)
   no-uncertainty UDSKD ``no-uncertainty`` config (optional row)
   ============== ==========================================================

4. measures the teacher's confidence statistics with
   ``tools/analysis_tools/teacher_confidence.py``, and
5. summarises everything (see ``tools/summarize_results.py``) into
   ``results.md`` / ``results.json`` and PNG plots in the work dir.

Every run lives in its own work dir under ``--work-dir`` (default
``work_dirs/ablation/<dataset>``, ignored by git); a run whose work dir holds
``ablation_run.json`` with return code 0 is finished and skipped, so the tool
can be stopped and started again. That file records the exact command, the
seed, the hyper-parameters and the wall-clock time of the run.

Evaluation is always on the official test/val split (CIFAR-10 ``test``,
Tiny-ImageNet ``val``), and the reported number is the **last** epoch's, never
the best epoch's (which would select on the test split). Nothing is tuned.

Example (the CPU-scale protocol of ``docs/results.md``)::

    python tools/run_ablation.py --dataset cifar10 --seeds 0 1 2 \\
        --epochs 3 --teacher-epochs 10 --train-per-class 50 \\
        --test-per-class 50 --jobs 2 \\
        --cfg-options train_dataloader.batch_size=32
"""
import argparse
import json
import os
import os.path as osp
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, osp.join(REPO, 'tools'))

from summarize_results import (ROW_LABELS, RUN_INFO, STUDENTS,  # noqa: E402
                               is_finished, summarize)

__all__ = [
    'DATASETS', 'ROWS', 'Run', 'parse_args', 'prepare_data', 'teacher_run',
    'student_runs', 'confidence_command', 'execute', 'main'
]

#: per data set: config suffix, teacher-confidence split, shared archive;
#: ``layout`` (optional) names one folder holding every config of the
#: protocol, ``teacher`` its teacher config (trained on the FULL train split,
#: the students on the ``--train-per-class`` subset, default
#: ``train_per_class``), ``stems`` the student/teacher file-name stems
DATASETS: Dict[str, Dict[str, object]] = {
    'cifar10': dict(suffix='1xb64_cifar10', test_split='test',
                    archive='cifar10'),
    'tiny100': dict(suffix='1xb64_tiny100', test_split='val',
                    archive='tiny-imagenet-200'),
    'tiny200': dict(suffix='1xb64_tiny200', test_split='val',
                    archive='tiny-imagenet-200'),
    # the low-data protocol of docs/results.md: a confident teacher trained
    # on all 50,000 images, students on 100 per class
    'cifar10-lowdata': dict(
        suffix='1xb64_cifar10-100pc', test_split='test', archive='cifar10',
        layout='configs/lowdata_cifar10',
        teacher='configs/lowdata_cifar10/resnet50-w16_1xb128_cifar10.py',
        teacher_epochs=20, epochs=40, train_per_class=100,
        stems=dict(teacher='resnet50-w16', r18='resnet18-w16',
                   mbv2='mobilenet-v2-w0.5')),
}

#: every ablation row, in table order
ROWS: List[str] = list(ROW_LABELS)

#: student name -> the file-name stem of its configs (and the teacher's)
STUDENT_STEMS: Dict[str, str] = {'r18': 'resnet18', 'mbv2': 'mobilenet-v2'}
TEACHER_STEM = 'resnet50'

#: rows that train one student per run -> (folder, file name template)
SINGLE_ROWS: Dict[str, tuple] = {
    'hard': ('baselines', '{stem}_{suffix}.py'),
    'kd': ('kd', 'kd_logits_{teacher}_{stem}_{suffix}.py'),
    'kd-conf': ('kd', 'kd-conf_logits_{teacher}_{stem}_{suffix}.py'),
    'dkd': ('dkd', 'dkd_logits_{teacher}_{stem}_{suffix}.py'),
}
#: rows that train both students in one run -> (folder, file name template)
DUAL_ROWS: Dict[str, tuple] = {
    'uncertainty': ('udskd', 'udskd_logits_{teacher}_{pair}_no-peer_{suffix}.py'),
    'udskd': ('udskd', 'udskd_logits_{teacher}_{pair}_{suffix}.py'),
    'no-uncertainty': ('udskd',
                       'udskd_logits_{teacher}_{pair}_no-uncertainty_{suffix}.py'),
    'dml': ('dml', 'dml_{pair}_{suffix}.py'),
}
#: rows whose runs use no teacher
NO_TEACHER_ROWS = ('hard', 'dml')

#: held in a run's work dir while some instance of the tool trains it
LOCK = 'ablation.lock'

TINY100_CLASSES = osp.join(REPO, 'configs', '_base_', 'datasets',
                           'tiny_imagenet100_classes.txt')


@dataclass
class Run:
    """One training process.

    Args:
        name (str): Unique name, e.g. ``'kd-r18/seed0'``.
        row (str): Ablation row (a key of ``ROW_LABELS``) or ``'teacher'``.
        config (str): Config path, relative to the repository root.
        work_dir (str): The run's work dir.
        seed (int): ``randomness.seed``.
        students (Dict[str, str]): Student name -> metric prefix in
            ``scalars.json`` (``''`` for single-model configs).
        cfg_options (List[str]): ``key=value`` overrides.
    """

    name: str
    row: str
    config: str
    work_dir: str
    seed: int
    students: Dict[str, str]
    cfg_options: List[str] = field(default_factory=list)

    def command(self, python: str = sys.executable) -> List[str]:
        """The ``tools/train.py`` command line of the run.

        Args:
            python (str): The interpreter. Defaults to ``sys.executable``.

        Returns:
            List[str]: The argument vector.
        """
        cmd = [python, 'tools/train.py', self.config, '--work-dir',
               self.work_dir]
        if osp.exists(osp.join(self.work_dir, 'last_checkpoint')):
            cmd.append('--resume')
        return cmd + ['--cfg-options'] + self.cfg_options


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command line of the tool.

    Args:
        argv (Sequence[str], optional): Arguments. Defaults to None
            (``sys.argv``).

    Returns:
        argparse.Namespace: The parsed options.
    """
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--dataset', choices=list(DATASETS), default='cifar10')
    p.add_argument('--data-root', help='data set root (default: extract '
                   'the archive from ../shared/data)')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--epochs', type=int, default=None,
                   help='student epochs (the cosine schedule follows; '
                   'default: the protocol\'s, else 50)')
    p.add_argument('--teacher-epochs', type=int, default=None,
                   help='teacher epochs (default: the protocol\'s, else '
                   '--epochs)')
    p.add_argument('--teacher-ckpt', help='use this teacher checkpoint '
                   'instead of training one')
    p.add_argument('--train-per-class', type=int, default=None,
                   help='class-balanced train subset (images per class)')
    p.add_argument('--test-per-class', type=int, default=None,
                   help='class-balanced test/val subset (images per class)')
    p.add_argument('--resize', type=int, default=None,
                   help='downsample every image of the data the tool builds '
                   'to RESIZE x RESIZE (box filter; e.g. 32 for a CPU-scale '
                   'Tiny-ImageNet); the train RandomCrop follows (crop '
                   'RESIZE, padding RESIZE/8)')
    p.add_argument('--work-dir', default=None,
                   help='default: work_dirs/ablation/<dataset>')
    p.add_argument('--rows', nargs='+', choices=ROWS,
                   default=['hard', 'kd', 'uncertainty', 'udskd'])
    p.add_argument('--cfg-options', nargs='+', default=[],
                   help='key=value overrides passed to every run')
    p.add_argument('--val-teacher', action='store_true',
                   help='also score the teacher at every validation of the '
                   'KD/UDSKD runs (off: it is scored once, in its own run)')
    p.add_argument('--teacher-cfg-options', nargs='+', default=[],
                   help='key=value overrides for the teacher run only '
                   '(after --cfg-options)')
    p.add_argument('--jobs', type=int, default=1,
                   help='training processes at a time')
    p.add_argument('--threads', type=int, default=1,
                   help='OMP_NUM_THREADS of each process (unless set)')
    p.add_argument('--dry-run', action='store_true',
                   help='print the commands, run nothing')
    p.add_argument('--summarize-only', action='store_true',
                   help='only summarise the finished runs')
    p.add_argument('--out-dir', default=None,
                   help='where results.md/json and the PNGs go '
                   '(default: the work dir)')
    args = p.parse_args(argv)
    info = DATASETS[args.dataset]
    args.epochs = args.epochs or info.get('epochs', 50)
    args.teacher_epochs = (args.teacher_epochs or info.get('teacher_epochs')
                           or args.epochs)
    if args.train_per_class is None:
        args.train_per_class = info.get('train_per_class')
    return args


def prepare_data(args: argparse.Namespace, work_dir: str,
                 dry_run: bool = False) -> str:
    """The data root the runs read, building the subset if asked.

    Args:
        args (argparse.Namespace): The tool's options.
        work_dir (str): The ablation work dir (the subset goes to
            ``work_dir/data``).
        dry_run (bool): Only compute the path. Defaults to False.

    Returns:
        str: The data root.
    """
    info = DATASETS[args.dataset]
    subset = args.train_per_class or args.test_per_class or args.resize
    if not subset and args.data_root and (dry_run or
                                          args.dataset != 'tiny100'):
        return args.data_root
    out = osp.join(work_dir, 'data')
    if not subset:
        out = args.data_root or ''
    if dry_run:
        return out or f'<extracted {info["archive"]}>'

    from mmrazor_udskd.utils.shared_data import extract_dataset, make_subset
    root = args.data_root or extract_dataset(info['archive'])
    if root is None:
        raise FileNotFoundError(
            f'no --data-root and no {info["archive"]} archive in the shared '
            'data folder')
    if not subset:
        out = root
    classes = None
    if args.dataset == 'tiny100':
        with open(TINY100_CLASSES) as f:
            classes = [ln.strip() for ln in f if ln.strip()]
    if subset:
        # one subset per work dir: refuse to mix subsets of other sizes
        sizes = dict(source=root, train_per_class=args.train_per_class,
                     test_per_class=args.test_per_class)
        if args.resize:
            sizes['resize'] = args.resize
        stamp = osp.join(out, 'subset.json')
        if osp.isfile(stamp):
            with open(stamp) as f:
                if json.load(f) != sizes:
                    raise ValueError(f'{out} holds a subset of other sizes '
                                     f'({stamp}); use another --work-dir')
        os.makedirs(out, exist_ok=True)
        with open(stamp, 'w') as f:
            json.dump(sizes, f)
        make_subset(root, 'train', args.train_per_class or 10**9, out,
                    classes=classes, resize=args.resize)
        make_subset(root, info['test_split'], args.test_per_class or 10**9,
                    out, classes=classes, resize=args.resize)
    if args.dataset == 'tiny100' and not osp.isfile(
            osp.join(out, 'meta100', 'val.txt')):
        subprocess.run([sys.executable,
                        'tools/dataset_converters/make_imagenet100.py', out,
                        '--class-list', TINY100_CLASSES], cwd=REPO,
                       check=True)
    return out


def common_options(args: argparse.Namespace, data_root: str,
                   epochs: Optional[int], seed: int) -> List[str]:
    """``--cfg-options`` shared by every run.

    Args:
        args (argparse.Namespace): The tool's options.
        data_root (str): The data root.
        epochs (int, optional): The run's epochs (max_epochs, cosine end
            and T_max; one checkpoint, at the end); None keeps the config's.
        seed (int): ``randomness.seed``.

    Returns:
        List[str]: ``key=value`` strings; ``--cfg-options`` given to the
        tool come last and win.
    """
    opts = [f'data_root={data_root}', f'randomness.seed={seed}',
            # no best-epoch selection on the test split
            'default_hooks.checkpoint.save_best=None']
    if epochs is not None:  # else the config's own schedule
        opts[1:1] = [f'train_cfg.max_epochs={epochs}',
                     f'param_scheduler.end={epochs}',
                     f'param_scheduler.T_max={epochs}',
                     f'default_hooks.checkpoint.interval={epochs}']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.num_workers=0',
                 f'{loader}.persistent_workers=False']
    if getattr(args, 'resize', None):
        # pipeline[1] is the RandomCrop(crop_size, padding) of every
        # CIFAR-10 / Tiny-ImageNet config here
        crop = 'train_dataloader.dataset.pipeline.1'
        opts += [f'{crop}.crop_size={args.resize}',
                 f'{crop}.padding={max(1, args.resize // 8)}']
    return opts + list(args.cfg_options)


def teacher_data_root(args: argparse.Namespace, data_root: str,
                      dry_run: bool = False) -> str:
    """The teacher's data root: the students' one, or for a protocol with
    its own teacher config the FULL data set (``--data-root`` or the
    extracted archive), never the students' subset.

    Args:
        args (argparse.Namespace): The tool's options.
        data_root (str): The students' data root.
        dry_run (bool): Only compute the path. Defaults to False.

    Returns:
        str: The data root.
    """
    info = DATASETS[args.dataset]
    if 'teacher' not in info:
        return data_root
    if args.data_root or dry_run:
        return args.data_root or f'<extracted {info["archive"]}>'
    from mmrazor_udskd.utils.shared_data import extract_dataset
    root = extract_dataset(str(info['archive']))
    if root is None:
        raise FileNotFoundError(f'no --data-root and no {info["archive"]} '
                                'archive in the shared data folder')
    return root


def _config(args: argparse.Namespace, row: str,
            student: Optional[str] = None) -> str:
    """The config of a row (of one student for single-student rows).

    Args:
        args (argparse.Namespace): The tool's options.
        row (str): The row, or ``'teacher'``.
        student (str, optional): The student of a single-student row.

    Returns:
        str: The config path, relative to the repository root.
    """
    info = DATASETS[args.dataset]
    stems = {**STUDENT_STEMS, 'teacher': TEACHER_STEM,
             **dict(info.get('stems', {}))}
    if row == 'teacher':
        return str(info.get('teacher') or
                   f'configs/baselines/{stems["teacher"]}_{info["suffix"]}.py')
    folder, name = (SINGLE_ROWS if student else DUAL_ROWS)[row]
    name = name.format(teacher=stems['teacher'], suffix=info['suffix'],
                       stem=stems.get(student or '', ''),
                       pair='-'.join(stems[s] for s in STUDENTS))
    return f'{info.get("layout") or "configs/" + folder}/{name}'


def teacher_run(args: argparse.Namespace, work_dir: str,
                data_root: str) -> Run:
    """The teacher's training run.

    A protocol with its own teacher config keeps that config's schedule
    (no epoch overrides) and saves every epoch, so it resumes where it was
    stopped.

    Args:
        args (argparse.Namespace): The tool's options.
        work_dir (str): The ablation work dir.
        data_root (str): The teacher's data root.

    Returns:
        Run: The run (work dir ``work_dir/teacher``).
    """
    seed = args.seeds[0]
    if 'teacher' in DATASETS[args.dataset]:
        opts = common_options(args, data_root, None, seed) + [
            'default_hooks.checkpoint.interval=1']
    else:
        opts = common_options(args, data_root, args.teacher_epochs, seed)
    return Run('teacher', 'teacher', _config(args, 'teacher'),
               osp.join(work_dir, 'teacher'), seed, {'teacher': ''},
               opts + list(args.teacher_cfg_options))


def teacher_checkpoint(args: argparse.Namespace, work_dir: str) -> str:
    """The teacher checkpoint the students use: ``--teacher-ckpt`` or the
    trained teacher's last epoch (never its best epoch on the test split).

    Args:
        args (argparse.Namespace): The tool's options.
        work_dir (str): The ablation work dir.

    Returns:
        str: The checkpoint path.
    """
    if args.teacher_ckpt:
        return args.teacher_ckpt
    return osp.join(work_dir, 'teacher', f'epoch_{args.teacher_epochs}.pth')


def student_runs(args: argparse.Namespace, work_dir: str, data_root: str,
                 teacher_ckpt: str) -> List[Run]:
    """Every student run, seed by seed (so an interrupted sweep has whole
    seeds finished first).

    Args:
        args (argparse.Namespace): The tool's options.
        work_dir (str): The ablation work dir.
        data_root (str): The data root.
        teacher_ckpt (str): The teacher checkpoint for the KD rows.

    Returns:
        List[Run]: The runs.
    """
    runs = []
    for seed in args.seeds:
        base = common_options(args, data_root, args.epochs, seed)
        head = base[:len(base) - len(args.cfg_options)]
        kd_opts = head + [f'model.teacher_ckpt={teacher_ckpt}']
        ud_opts = list(kd_opts)
        if not args.val_teacher:
            kd_opts.append('val_cfg.type=ValLoop')
            ud_opts.append('model.val_teacher=False')
        kd_opts += list(args.cfg_options)
        ud_opts += list(args.cfg_options)
        for row in args.rows:
            opts = base if row in NO_TEACHER_ROWS else None
            if row in SINGLE_ROWS:
                for student in STUDENTS:
                    runs.append(Run(
                        f'{row}-{student}/seed{seed}', row,
                        _config(args, row, student),
                        osp.join(work_dir, f'{row}-{student}', f'seed{seed}'),
                        seed, {student: ''}, list(opts or kd_opts)))
            else:
                runs.append(Run(
                    f'{row}/seed{seed}', row, _config(args, row),
                    osp.join(work_dir, row, f'seed{seed}'), seed,
                    {s: f'{s}/' for s in STUDENTS + ('ensemble', )},
                    list(opts or ud_opts)))
    missing = sorted({r.config for r in runs
                      if not osp.isfile(osp.join(REPO, r.config))})
    if missing:
        raise ValueError(f'--dataset {args.dataset} has no config for some '
                         f'--rows: {", ".join(missing)}')
    return runs


def confidence_command(args: argparse.Namespace, work_dir: str,
                       data_root: str, teacher_ckpt: str,
                       split: str = 'val') -> List[str]:
    """The ``teacher_confidence.py`` command on the test/val split (or on
    the students' train data).

    Args:
        args (argparse.Namespace): The tool's options.
        work_dir (str): The ablation work dir.
        data_root (str): The students' data root.
        teacher_ckpt (str): The teacher checkpoint.
        split (str): ``'val'`` (the test/val split) or ``'train'`` (the
            images the students train on). Defaults to ``'val'``.

    Returns:
        List[str]: The argument vector (output in
        ``work_dir/teacher_confidence`` or ``..._train``).
    """
    out = 'teacher_confidence' + ('' if split == 'val' else f'_{split}')
    return [sys.executable, 'tools/analysis_tools/teacher_confidence.py',
            _config(args, 'teacher'), '--checkpoint', teacher_ckpt,
            '--split', split, '--tau', '4', '--data-root', data_root,
            '--out-dir', osp.join(work_dir, out)]


def execute(run: Run, threads: int) -> int:
    """Train one run, then write ``ablation_run.json`` into its work dir.

    The run's work dir holds ``ablation.lock`` meanwhile, so several
    instances of the tool (e.g. one per machine, or ``--seeds 2 1 0`` beside
    ``--seeds 0 1 2``) can share a work dir; a run locked by another
    instance is skipped.

    Args:
        run (Run): The run.
        threads (int): ``OMP_NUM_THREADS`` unless the environment sets it.

    Returns:
        int: The process's return code.
    """
    os.makedirs(run.work_dir, exist_ok=True)
    lock = osp.join(run.work_dir, LOCK)
    try:  # another instance of the tool may be training this run
        os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        print(f'{run.name}: {lock} exists (another instance runs it, or '
              'delete the stale lock), skipped', flush=True)
        return -1
    if is_finished(run.work_dir):  # finished while we waited
        os.remove(lock)
        return 0
    cmd = run.command()
    env = dict(os.environ)
    env.setdefault('OMP_NUM_THREADS', str(threads))
    start = time.time()
    try:
        with open(osp.join(run.work_dir, 'ablation_stdout.log'),
                  'a') as log:
            rc = subprocess.run(cmd, cwd=REPO, env=env, stdout=log,
                                stderr=subprocess.STDOUT).returncode
    finally:
        os.remove(lock)
    wall = time.time() - start
    info = dict(name=run.name, row=run.row, config=run.config,
                seed=run.seed, students=run.students,
                command=' '.join(shlex.quote(c) for c in cmd),
                cfg_options=run.cfg_options, returncode=rc,
                wall_s=wall, omp_num_threads=env['OMP_NUM_THREADS'],
                finished_at=time.strftime('%Y-%m-%d %H:%M:%S UTC',
                                          time.gmtime()))
    prev = osp.join(run.work_dir, RUN_INFO)
    if osp.isfile(prev):  # a resumed run: add the earlier attempts' time
        with open(prev) as f:
            info['wall_s'] += json.load(f).get('wall_s', 0.0)
    with open(prev, 'w') as f:
        json.dump(info, f, indent=2)
    print(f'[{time.strftime("%H:%M:%S")}] {run.name}: rc {rc}, '
          f'{wall:.0f} s', flush=True)
    return rc


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, object]:
    """Run (or print, or only summarise) the ablation.

    Args:
        argv (Sequence[str], optional): Command line. Defaults to None.

    Returns:
        Dict[str, object]: ``runs`` (names), ``todo`` (names not finished
        before this call), ``commands`` and, unless ``--dry-run``, the
        ``summary``.
    """
    args = parse_args(argv)
    work_dir = args.work_dir or osp.join('work_dirs', 'ablation',
                                         args.dataset)
    work_dir = osp.abspath(work_dir)
    data_root = prepare_data(args, work_dir,
                             dry_run=args.dry_run or args.summarize_only)
    data_root = osp.abspath(data_root) if osp.exists(data_root) else \
        data_root
    ckpt = teacher_checkpoint(args, work_dir)
    teacher = None if args.teacher_ckpt else teacher_run(
        args, work_dir, teacher_data_root(
            args, data_root, args.dry_run or args.summarize_only))
    runs = student_runs(args, work_dir, data_root, ckpt)
    everything = ([teacher] if teacher else []) + runs
    todo = [r for r in everything if not is_finished(r.work_dir)]
    # the --resume flag is decided when a run starts, not now

    conf_cmd = confidence_command(args, work_dir, data_root, ckpt)
    # the teacher on the very images the students train on (a subset)
    conf_train = confidence_command(args, work_dir, data_root, ckpt,
                                    'train') if args.train_per_class else []
    commands = [' '.join(shlex.quote(c) for c in r.command())
                for r in everything]
    result: Dict[str, object] = dict(
        runs=[r.name for r in everything], todo=[r.name for r in todo],
        commands=commands)
    if args.dry_run or not args.summarize_only:
        print(f'# work dir {work_dir}; {len(everything)} runs, '
              f'{len(todo)} to do (OMP_NUM_THREADS={args.threads}, '
              f'cwd {REPO})')
        for run, cmd in zip(everything, commands):
            state = 'run ' if run in todo else 'skip'
            print(f'{state} {run.name}: {cmd}')
        for cmd in filter(None, (conf_cmd, conf_train)):
            print('conf ' + ' '.join(shlex.quote(c) for c in cmd))
    if args.dry_run:
        return result
    if not args.summarize_only:
        if teacher is not None and teacher in todo:
            # the teacher trains alone: give it every job's threads
            if execute(teacher, args.threads * max(1, args.jobs)) != 0:
                raise RuntimeError('teacher training failed, see '
                                   f'{teacher.work_dir}/ablation_stdout.log')
        pending = [r for r in runs if r in todo]
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            list(pool.map(lambda r: execute(r, args.threads), pending))
    conf_dir = osp.join(work_dir, 'teacher_confidence')
    for cmd in filter(None, (conf_cmd, conf_train)):
        if not osp.isfile(osp.join(cmd[-1], 'summary.json')) and \
                osp.isfile(ckpt) and not args.summarize_only:
            env = dict(os.environ)
            env.setdefault('OMP_NUM_THREADS', str(args.threads))
            subprocess.run(cmd, cwd=REPO, env=env, check=True)
    hyper = dict(dataset=args.dataset, seeds=args.seeds, epochs=args.epochs,
                 teacher_epochs=args.teacher_epochs,
                 teacher_ckpt=ckpt, train_per_class=args.train_per_class,
                 test_per_class=args.test_per_class, resize=args.resize,
                 data_root=data_root,
                 cfg_options=args.cfg_options,
                 teacher_cfg_options=args.teacher_cfg_options,
                 val_teacher=args.val_teacher, rows=args.rows,
                 jobs=args.jobs, threads=args.threads,
                 confidence_command=' '.join(
                     shlex.quote(c) for c in conf_cmd))
    result['summary'] = summarize(
        work_dir, [r.name for r in everything], out_dir=args.out_dir or
        work_dir, hyper=hyper, conf_dir=conf_dir)
    return result


if __name__ == '__main__':
    main()
