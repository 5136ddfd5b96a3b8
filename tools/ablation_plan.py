"""The plan of ``tools/run_ablation.py``: which runs the ablation trains.

The protocol tables (data sets, rows, config names) and the functions that
turn the tool's options into :class:`Run` objects (config, work dir, seed,
``--cfg-options``) for the teacher and every student row, and the teacher's
confidence command. Nothing here starts a process: see
``tools/run_ablation.py`` for data preparation, execution and the summary.
"""
import argparse
import os.path as osp
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'tools'))

from summarize_results import ROW_LABELS, STUDENTS  # noqa: E402

__all__ = [
    'DATASETS', 'ROWS', 'STUDENT_STEMS', 'TEACHER_STEM', 'SINGLE_ROWS',
    'DUAL_ROWS', 'NO_TEACHER_ROWS', 'CKPT_EVERY', 'TINY100_CLASSES', 'Run',
    'common_options', 'teacher_data_root', 'teacher_run',
    'teacher_checkpoint', 'student_runs', 'confidence_command'
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
    'uncertainty': ('udskd',
                    'udskd_logits_{teacher}_{pair}_no-peer_{suffix}.py'),
    'udskd': ('udskd', 'udskd_logits_{teacher}_{pair}_{suffix}.py'),
    'no-uncertainty': (
        'udskd', 'udskd_logits_{teacher}_{pair}_no-uncertainty_{suffix}.py'),
    'dml': ('dml', 'dml_{pair}_{suffix}.py'),
}
#: rows whose runs use no teacher
NO_TEACHER_ROWS = ('hard', 'dml')
#: student runs (and a teacher trained for --teacher-epochs) save every this
#: many epochs, so that a stopped run resumes instead of starting again
CKPT_EVERY = 5

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


def common_options(args: argparse.Namespace, data_root: str,
                   epochs: Optional[int], seed: int) -> List[str]:
    """``--cfg-options`` shared by every run.

    Args:
        args (argparse.Namespace): The tool's options.
        data_root (str): The data root.
        epochs (int, optional): The run's epochs (max_epochs, cosine end
            and T_max); None keeps the config's. A checkpoint every
            ``CKPT_EVERY`` epochs and at the end, only the latest kept, so
            a stopped run resumes (:meth:`Run.command`).
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
                     'default_hooks.checkpoint.interval='
                     f'{min(CKPT_EVERY, epochs)}',
                     'default_hooks.checkpoint.max_keep_ckpts=1']
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
