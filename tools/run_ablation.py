"""Run the UDSKD ablation (arXiv 2511.18826, Table "ablation") on one data set.

For one data set the tool

1. prepares the data (``--data-root``, or the archives in ``../shared/data``
   via :func:`mmrazor_udskd.utils.extract_dataset`, optionally cut to a
   class-balanced CPU-scale subset with ``--train-per-class`` /
   ``--test-per-class``),
2. trains the ResNet-50 teacher (or takes ``--teacher-ckpt``),
3. trains, for every seed, the ablation rows for both students (the plan,
   config names included, is in ``tools/ablation_plan.py``):

   ============== ==========================================================
   row            run
   ============== ==========================================================
   hard           hard labels only, one run per student
   kd             MMRazor's built-in KD (alpha .3 beta .7, tau 4), one run
                  per student
   kd-conf        built-in KD with the teacher's confidence weight w
   dkd            MMRazor's built-in DKD, one run per student
   uncertainty    UDSKD ``no-peer`` config (entropy weighting, gamma = 0),
                  both students in one run
   udskd          full UDSKD (entropy weighting + peer, gamma .2)
   no-uncertainty UDSKD ``no-uncertainty`` config (w = 1)
   dml            the two students as peers, no teacher
   ============== ==========================================================

   A data set has the rows whose configs exist (``cifar10-lowdata`` has
   all eight; the tool names a missing one).
4. measures the teacher's confidence statistics with
   ``tools/analysis_tools/teacher_confidence.py``, and
5. summarises everything (see ``tools/summarize_results.py``) into
   ``results.md`` / ``results.json`` and PNG plots in the work dir.

Every run lives in its own work dir under ``--work-dir`` (default
``work_dirs/ablation/<dataset>``, ignored by git); a run whose work dir holds
``ablation_run.json`` with return code 0 is finished and skipped, so the tool
can be stopped and started again; a stopped run saved a checkpoint every 5
epochs and resumes from it (``--resume``). That file records the exact
command, the seed, the hyper-parameters and the wall-clock time of the run
(of all its legs when resumed).

Evaluation is always on the official test/val split (CIFAR-10 ``test``,
Tiny-ImageNet ``val``), and the reported number is the **last** epoch's, never
the best epoch's (which would select on the test split; the summary shows the
best epoch only beside it). Nothing is tuned.

Example (the low-data protocol of ``docs/results.md``: teacher on all
50,000 CIFAR-10 images, students on 100 per class)::

    python tools/run_ablation.py --dataset cifar10-lowdata --seeds 0 1 2 \\
        --rows hard kd kd-conf uncertainty udskd no-uncertainty dml dkd \\
        --jobs 2 --threads 1

Example (the earlier CPU-scale protocol of ``docs/results.md``)::

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
from typing import Dict, Optional, Sequence

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, osp.join(REPO, 'tools'))

from ablation_lock import LOCK, take_lock  # noqa: E402
from ablation_plan import (DATASETS, ROWS, TINY100_CLASSES,  # noqa: E402
                           Run, confidence_command, student_runs,
                           teacher_checkpoint, teacher_data_root,
                           teacher_run)
from summarize_results import RUN_INFO, is_finished, summarize  # noqa: E402

__all__ = [
    'DATASETS', 'ROWS', 'Run', 'parse_args', 'prepare_data', 'teacher_run',
    'student_runs', 'confidence_command', 'LOCK', 'take_lock', 'execute',
    'main'
]


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


def execute(run: Run, threads: int) -> int:
    """Train one run, then write ``ablation_run.json`` into its work dir.

    The run's work dir holds ``ablation.lock`` meanwhile, so several
    instances of the tool (e.g. one per machine, or ``--seeds 2 1 0`` beside
    ``--seeds 0 1 2``) can share a work dir; a run locked by another
    running instance is skipped, a lock of a killed one taken over
    (:func:`take_lock`).

    Args:
        run (Run): The run.
        threads (int): ``OMP_NUM_THREADS`` unless the environment sets it.

    Returns:
        int: The process's return code.
    """
    os.makedirs(run.work_dir, exist_ok=True)
    lock = osp.join(run.work_dir, LOCK)
    if not take_lock(lock):
        print(f'{run.name}: {lock} is held by a running instance, skipped',
              flush=True)
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
