"""The offline demo: teacher, baselines and UDSKD on real handwritten digits.

Runs the project's main job end to end on scikit-learn's 8x8 digits (1,797
real images that ship with scikit-learn; upscaled to 16x16), with the real
training machinery (``tools/train.py``, one subprocess per stage):

1. the ResNet-50 teacher, on all 1,437 train digits;
2. hard-label students ResNet-18 and MobileNetV2 (alpha = 1, no teacher),
   on 10 labelled digits per class -- the low-data regime in which a
   teacher that has seen more knows more than the students' labels say;
3. MMRazor's built-in logit KD (alpha .3, beta .7, tau 4) for each student,
   from the stage-1 teacher;
4. uncertainty-aware dual-student KD (ours, arXiv 2511.18826), both students
   trained together from the same teacher.

Every student stage sees the same 100 labelled digits. It prints (and
writes to ``WORK_DIR/results.md``) the teacher's and the students' final
top-1 accuracies on the held-out 360 digits, and one line that reads the
table::

    python tools/run_demo.py [--work-dir work_dirs/demo] [--epochs 30]
        [--teacher-epochs 10] [--quick]

The nets are the low-data protocol's narrow ones (quarter-width ResNets,
half-width MobileNetV2, ``configs/_base_/models/nets_cifar_small.py``): the
whole demo takes about 4.5 minutes on two idle CPU cores, the teacher's 10
epochs 1.3 of them. ``--quick`` (one epoch each, the teacher on 16 digits per
class, 8 test digits per class) is a smoke test.
Each stage's full log is ``WORK_DIR/<stage>/train.log``.
"""
import argparse
import os
import os.path as osp
import re
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from demo_report import (ROWS, find_checkpoint,  # noqa: E402
                         format_results, read_final_metrics, reading)

__all__ = [
    'Stage', 'STAGES', 'parse_args', 'quick_options', 'epoch_options',
    'ROWS', 'read_final_metrics', 'find_checkpoint', 'format_results',
    'reading', 'run_stage', 'main'
]

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'demo')

#: the algorithm of stage 4, looked up before that stage runs
UDSKD_ALGORITHM = 'MultiStudentDistill'


@dataclass
class Stage:
    """One training run of the demo.

    Args:
        name (str): Sub-folder of the work dir, also the stage's label.
        config (str): Config file name in ``configs/demo``.
        title (str): What the stage trains, for the console.
        needs_teacher (bool): Whether the stage-1 checkpoint is passed as
            ``model.teacher_ckpt``. Defaults to False.
        metrics (Dict[str, str]): Result name to the metric key of the final
            validation record. Defaults to ``{}``.
    """
    name: str
    config: str
    title: str
    needs_teacher: bool = False
    metrics: Dict[str, str] = field(default_factory=dict)


STAGES: List[Stage] = [
    Stage('teacher_r50', 'resnet50_1xb64_digits.py',
          '1/4 teacher ResNet-50', metrics={'teacher': 'accuracy/top1'}),
    Stage('hard_r18', 'resnet18_1xb64_digits.py',
          '2/4 hard-label ResNet-18', metrics={'hard/r18': 'accuracy/top1'}),
    Stage('hard_mbv2', 'mobilenet-v2_1xb64_digits.py',
          '2/4 hard-label MobileNetV2',
          metrics={'hard/mbv2': 'accuracy/top1'}),
    Stage('kd_r18', 'kd_logits_resnet50_resnet18_1xb64_digits.py',
          '3/4 built-in KD ResNet-50 -> ResNet-18', needs_teacher=True,
          metrics={'kd/r18': 'accuracy/top1'}),
    Stage('kd_mbv2', 'kd_logits_resnet50_mobilenet-v2_1xb64_digits.py',
          '3/4 built-in KD ResNet-50 -> MobileNetV2', needs_teacher=True,
          metrics={'kd/mbv2': 'accuracy/top1'}),
    Stage('udskd',
          'udskd_logits_resnet50_resnet18-mobilenet-v2_1xb64_digits.py',
          '4/4 dual-student KD (ours) ResNet-50 -> ResNet-18 + MobileNetV2',
          needs_teacher=True,
          metrics={
              'ours/r18': 'r18/accuracy/top1',
              'ours/mbv2': 'mbv2/accuracy/top1',
              'ours/ensemble': 'ensemble/accuracy/top1',
          }),
]

def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (List[str], optional): Arguments; None reads ``sys.argv``.
            Defaults to None.

    Returns:
        argparse.Namespace: The options.
    """
    parser = argparse.ArgumentParser(
        description='Offline demo: R50 teacher, hard-label and KD baselines '
        'and dual-student KD on the 8x8 digits.')
    parser.add_argument('--work-dir', default=osp.join('work_dirs', 'demo'),
                        help='where every stage writes its work dir and '
                        'the results table goes (default: work_dirs/demo)')
    parser.add_argument('--epochs', type=int, default=None,
                        help='epochs of every student stage (default: 30, '
                        'or 1 with --quick)')
    parser.add_argument('--teacher-epochs', type=int, default=None,
                        help='epochs of the teacher (default: 10, or 1 with '
                        '--quick)')
    parser.add_argument('--quick', action='store_true',
                        help='smoke test: one epoch each, the teacher on 16 '
                        'train images per class, 8 test images per class')
    args = parser.parse_args(argv)
    if args.epochs is None:
        args.epochs = 1 if args.quick else 30
    if args.teacher_epochs is None:
        args.teacher_epochs = 1 if args.quick else 10
    if args.epochs < 1 or args.teacher_epochs < 1:
        parser.error('--epochs and --teacher-epochs must be at least 1')
    return args


def epoch_options(epochs: int) -> List[str]:
    """cfg-options that set the demo schedule to ``epochs`` epochs.

    The demo configs warm up for one epoch, then anneal to 0 from epoch 1 to
    ``max_epochs``. With a single epoch the cosine part starts after training
    ends, so only the warm-up runs.

    Args:
        epochs (int): Number of training epochs.

    Returns:
        List[str]: ``key=value`` strings for ``--cfg-options``.
    """
    return [
        f'train_cfg.max_epochs={epochs}',
        f'param_scheduler.1.end={max(epochs, 2)}',
    ]


def quick_options(teacher: bool = True) -> List[str]:
    """cfg-options of ``--quick``: class-balanced subsets, small batches.

    Args:
        teacher (bool): Options of the teacher stage (16 train images per
            class); the student stages keep their 10 per class. Defaults to
            True.

    Returns:
        List[str]: ``key=value`` strings for ``--cfg-options``.
    """
    train = ['train_dataloader.dataset.max_per_class=16',
             'train_dataloader.batch_size=32'] if teacher else []
    return train + [
        'val_dataloader.dataset.max_per_class=8',
        'default_hooks.logger.interval=1',
    ]


def _summarise_val_line(line: str) -> str:
    """Shorten mmengine's validation log line to the epoch and the top-1
    metrics, e.g. ``epoch 3: r18/accuracy/top1 96.94, ...``."""
    epoch = re.search(r'Epoch\(val\) \[(\d+)\]', line)
    pairs = re.findall(r'(\S*top1): ([0-9.]+)', line)
    text = ', '.join(f'{name} {float(value):.2f}' for name, value in pairs)
    return f'epoch {epoch.group(1) if epoch else "?"}: {text}'


def run_stage(stage: Stage, work_dir: str, options: Sequence[str]) -> float:
    """Train one stage with ``tools/train.py`` in a subprocess.

    The full output goes to ``<work_dir>/train.log``; the validation lines
    are echoed to the console.

    Args:
        stage (Stage): The stage.
        work_dir (str): Its work dir.
        options (Sequence[str]): ``--cfg-options`` values.

    Returns:
        float: Wall time in seconds.

    Raises:
        RuntimeError: If training fails (with the tail of the log).
    """
    os.makedirs(work_dir, exist_ok=True)
    cmd = [
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'train.py'),
        osp.join(CONFIG_DIR, stage.config), '--work-dir', work_dir,
        '--cfg-options', *options
    ]
    env = dict(os.environ)
    env.setdefault('PYTHONWARNINGS', 'ignore')
    log_path = osp.join(work_dir, 'train.log')
    print(f'[demo] {stage.title}', flush=True)
    start = time.time()
    tail: List[str] = []
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            tail = (tail + [line])[-40:]
            if 'Epoch(val)' in line and 'accuracy' in line:
                print(f'[demo]   {_summarise_val_line(line)}', flush=True)
        proc.wait()
    elapsed = time.time() - start
    if proc.returncode != 0:
        raise RuntimeError(
            f'stage {stage.name} failed (exit {proc.returncode}); the end of '
            f'{log_path}:\n' + ''.join(tail))
    print(f'[demo]   done in {elapsed:.1f} s', flush=True)
    return elapsed


def _udskd_available() -> bool:
    """Whether ``MultiStudentDistill`` is registered with MMRazor."""
    sys.path.insert(0, REPO_ROOT)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            import mmrazor_udskd  # noqa: F401
            from mmrazor.registry import MODELS
    except Exception as err:  # noqa: BLE001 - report, then skip the stage
        print(f'[demo] cannot import mmrazor_udskd: {err}', flush=True)
        return False
    return MODELS.get(UDSKD_ALGORITHM) is not None


def main(argv: Optional[List[str]] = None) -> str:
    """Run the demo.

    Args:
        argv (List[str], optional): Command-line arguments; None reads
            ``sys.argv``. Defaults to None.

    Returns:
        str: The Markdown results (also written to
        ``<work-dir>/results.md``).
    """
    args = parse_args(argv)
    work_root = osp.abspath(args.work_dir)
    os.makedirs(work_root, exist_ok=True)

    results: Dict[str, float] = {}
    times: Dict[str, float] = {}
    notes: List[str] = []
    teacher_ckpt: Optional[str] = None
    for stage in STAGES:
        work_dir = osp.join(work_root, stage.name)
        epochs = (args.teacher_epochs
                  if stage.name == 'teacher_r50' else args.epochs)
        options = epoch_options(epochs)
        if args.quick:
            options += quick_options(teacher=stage.name == 'teacher_r50')
        if stage.needs_teacher:
            options.append(f'model.teacher_ckpt={teacher_ckpt}')
        if stage.name == 'udskd' and not _udskd_available():
            msg = (f'stage 4 skipped: the {UDSKD_ALGORITHM} algorithm is not '
                   'registered (mmrazor_udskd.models.algorithms)')
            print(f'[demo] {msg}', flush=True)
            notes.append(msg)
            continue
        times[stage.name] = run_stage(stage, work_dir, options)
        final = read_final_metrics(work_dir)
        for name, key in stage.metrics.items():
            if key in final:
                results[name] = float(final[key])
            else:
                notes.append(f'{stage.name}: no "{key}" in the final '
                             'validation record')
        if stage.name == 'teacher_r50':
            teacher_ckpt = find_checkpoint(work_dir)

    text = format_results(results, times, args.epochs, args.teacher_epochs,
                          args.quick, notes)
    with open(osp.join(work_root, 'results.md'), 'w') as f:
        f.write(text)
    print()
    print(text)
    print(f'[demo] work dir: {work_root} (results.md, one folder per stage '
          'with its train.log, checkpoints and vis_data/scalars.json)')
    return text


if __name__ == '__main__':
    try:
        main()
    except (RuntimeError, FileNotFoundError) as err:
        sys.exit(f'[demo] error: {err}')
