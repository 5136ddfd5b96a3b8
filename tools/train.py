"""Train a model with MMEngine's Runner, after ``import mmrazor_udskd``.

Same command line as MMRazor's / MMPretrain's ``tools/train.py``::

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}]
        [--vis tensorboard]

``--vis tensorboard`` adds MMEngine's ``TensorboardVisBackend`` next to the
local JSON backend: every scalar the logger writes (each student's losses,
learning rates and metrics, the teacher-confidence statistics) also goes to
``<work_dir>/<timestamp>/vis_data/`` as a TensorBoard event file. Needs
``pip install "mmrazor_udskd[tensorboard]"``. The same, without the flag::

    --cfg-options "visualizer.vis_backends=[dict(type='LocalVisBackend'),dict(type='TensorboardVisBackend')]"

plus, for precision per model: ``--amp-students NAME ...`` (AMP for these
students only), ``--teacher-precision {fp32,bf16,fp16,auto}`` and
``--precision-policy`` (the default policy of
``mmrazor_udskd.models.utils.precision``).
"""
import argparse
import importlib.util
import os
import os.path as osp
import sys
from typing import List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmrazor_udskd  # noqa: E402,F401  (compat patches + registrations)
import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner, find_latest_checkpoint  # noqa: E402

from mmrazor_udskd.models.utils import PRECISIONS  # noqa: E402
from mmrazor_udskd.utils import (apply_data_root,  # noqa: E402
                                 apply_precision_policy, enable_amp,
                                 set_teacher_precision,
                                 teacher_from_checkpoint)
from mmrazor_udskd.datasets.data_checks import check_data_cfg  # noqa: E402


#: ``--vis`` choice -> (vis backend type, module it needs, pip extra)
VIS_BACKENDS = {
    'tensorboard': ('TensorboardVisBackend', 'tensorboard', 'tensorboard'),
}


def add_vis_backends(cfg: Config, names: List[str]) -> Config:
    """Append the ``--vis`` backends to ``cfg.visualizer.vis_backends``."""
    for name in names:
        backend, module, extra = VIS_BACKENDS[name]
        if importlib.util.find_spec(module) is None:
            raise SystemExit(
                f'--vis {name} needs the {module} package: '
                f'pip install "mmrazor_udskd[{extra}]"')
        visualizer = cfg.setdefault('visualizer', {})
        backends = list(visualizer.get('vis_backends') or [])
        if all(b.get('type') != backend for b in backends):
            backends.append(dict(type=backend))
        visualizer['vis_backends'] = backends
    return cfg


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or, without a value, from '
        'the latest checkpoint in the work dir')
    parser.add_argument('--amp', action='store_true',
                        help='enable automatic mixed precision training '
                        'for every student (GPU: float16 with loss scaling; '
                        'CPU: bfloat16)')
    parser.add_argument('--amp-students', nargs='+', metavar='NAME',
                        help='AMP for these students only (one optimizer '
                        'wrapper per student)')
    parser.add_argument('--teacher-precision', choices=PRECISIONS,
                        help="MultiStudentDistill: the teacher forward's "
                        'precision (model.teacher_precision)')
    parser.add_argument('--precision-policy', action='store_true',
                        help='per-model precision by the default policy: '
                        'bf16 for the teacher and ResNets where the device '
                        'computes bf16 natively, fp32 otherwise')
    parser.add_argument('--no-validate', action='store_true',
                        help='do not validate during training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the LR by the actual batch size')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings in the config, key=value pairs')
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'],
                        help='job launcher')
    parser.add_argument(
        '--vis', nargs='+', default=[], choices=sorted(VIS_BACKENDS),
        help='extra visualization backends: tensorboard writes event files '
        'to the run\'s vis_data folder')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if sum([args.amp, bool(args.amp_students), args.precision_policy]) > 1:
        parser.error('use one of --amp, --amp-students, --precision-policy')
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply the command-line options to the config."""
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        enable_amp(cfg)
    if args.amp_students:
        enable_amp(cfg, args.amp_students)
    if args.precision_policy:
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
        chosen = apply_precision_policy(cfg, device)
        print(f'precision policy on {device}: {chosen}', flush=True)
    if args.teacher_precision:
        set_teacher_precision(cfg, args.teacher_precision)
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
        if 'data_root' in args.cfg_options:
            apply_data_root(cfg, args.cfg_options['data_root'])
    add_vis_backends(cfg, args.vis)
    if cfg.get('resume'):
        # resuming restores the teacher's weights with everything else
        teacher_from_checkpoint(cfg, cfg.load_from or find_latest_checkpoint(
            cfg.work_dir))
    return cfg


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    cfg = merge_args(Config.fromfile(args.config), args)
    # a missing / empty data folder or annotation file names its config field
    # here, before any model is built
    check_data_cfg(cfg)
    if 'runner_type' in cfg:
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
