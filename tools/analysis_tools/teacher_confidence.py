"""How confident is the teacher? The statistics behind UDSKD's uncertainty
weighting (Gore, Dey, Mishra, arXiv 2511.18826).

::

    python tools/analysis_tools/teacher_confidence.py CONFIG \\
        [--checkpoint CKPT] [--split val|train] [--out-dir DIR] [--tau 4] \\
        [--max-samples N] [--batch-size 64] [--data-root DIR] \\
        [--cfg-options k=v ...]

Runs the teacher over the data set (``model.teacher`` of a distillation
config, or ``model`` of a plain classifier config) and reports, per sample,
the paper's confidence weight ``w = confidence_weight(z_t)``
``= 1 - teacher_entropy(z_t, T=1) / log C``:

* mean ``w``; mean teacher entropy at ``T = 1`` and at ``T = tau``;
* the share of samples with ``w < 0.5`` (the "uncertain" ones);

and saves ``confidence_hist.png`` (histogram of ``w``),
``confidence_per_class.png`` (mean ``w`` per ground-truth class) and
``summary.json`` to ``--out-dir``.

The checkpoint (``--checkpoint``, else ``model.teacher_ckpt`` of the config)
may be a plain classifier checkpoint or a distillation checkpoint, whose
``teacher.*`` keys are used. The train split is read with the test pipeline
(no augmentation).
"""
import argparse
import json
import math
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))

import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.dataset import pseudo_collate  # noqa: E402
from mmengine.utils import ProgressBar  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

import mmrazor_udskd  # noqa: E402,F401  (compat patches + registrations)
from mmrazor_udskd.models.losses.functional import (  # noqa: E402
    confidence_weight, teacher_entropy)
from mmrazor_udskd.utils import apply_data_root  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Statistics of the teacher's confidence weight")
    parser.add_argument('config', help='a distillation or classifier config')
    parser.add_argument('--checkpoint', help='teacher or algorithm '
                        'checkpoint (default: model.teacher_ckpt)')
    parser.add_argument('--split', choices=['val', 'train'], default='val')
    parser.add_argument('--out-dir', default='work_dirs/teacher_confidence')
    parser.add_argument('--tau', type=float, default=None,
                        help='KD temperature for the tempered entropy '
                        '(default: model.tau of the config, else 4)')
    parser.add_argument('--max-samples', type=int, default=None,
                        help='only the first N samples of the split')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--data-root', help='override the data root')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config')
    return parser.parse_args(argv)


def teacher_config(cfg: Config) -> dict:
    """The teacher's model config: ``model.teacher`` or ``model``."""
    return cfg.model.teacher if 'teacher' in cfg.model else cfg.model


def load_teacher_weights(teacher: torch.nn.Module, path: str) -> None:
    """Load a classifier or a distillation checkpoint into the teacher.

    Args:
        teacher (nn.Module): The built teacher.
        path (str): Checkpoint; if it has ``teacher.*`` keys only those are
            used, without the prefix.
    """
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    state = ckpt.get('state_dict', ckpt)
    state = {k[len('module.'):] if k.startswith('module.') else k: v
             for k, v in state.items()}
    if any(k.startswith('teacher.') for k in state):
        state = {k[len('teacher.'):]: v for k, v in state.items()
                 if k.startswith('teacher.')}
    teacher.load_state_dict(state, strict=True)


def build_dataset(cfg: Config, split: str,
                  max_samples: Optional[int]) -> torch.utils.data.Dataset:
    """The split's dataset, always with the test pipeline."""
    from mmpretrain.registry import DATASETS
    loader = cfg.train_dataloader if split == 'train' else cfg.val_dataloader
    ds_cfg = loader.dataset.copy()
    test_loader = cfg.get('test_dataloader') or cfg.val_dataloader
    ds_cfg.pipeline = test_loader.dataset.pipeline
    if max_samples:
        ds_cfg.indices = max_samples
    return DATASETS.build(ds_cfg)


@torch.no_grad()
def teacher_logits(cfg: Config, checkpoint: Optional[str], split: str,
                   max_samples: Optional[int],
                   batch_size: int) -> Dict[str, object]:
    """Run the teacher over a split.

    Args:
        cfg (Config): The config.
        checkpoint (str, optional): Teacher or algorithm checkpoint.
        split (str): ``'val'`` or ``'train'``.
        max_samples (int, optional): Only the first N samples.
        batch_size (int): Batch size.

    Returns:
        Dict[str, object]: ``logits`` (N, C), ``labels`` (N,) and the data
        set's ``classes`` (or None).
    """
    from mmpretrain.registry import MODELS
    model_cfg = teacher_config(cfg).copy()
    model_cfg.setdefault('data_preprocessor',
                         cfg.model.get('data_preprocessor') or
                         cfg.get('data_preprocessor'))
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        teacher = MODELS.build(model_cfg)
    if checkpoint:
        load_teacher_weights(teacher, checkpoint)
    else:
        print('warning: no checkpoint given, the teacher is randomly '
              'initialised')
        teacher.init_weights()
    teacher.eval()
    dataset = build_dataset(cfg, split, max_samples)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False,
                        collate_fn=pseudo_collate)
    logits, labels = [], []
    # progress on stderr, so that stdout keeps the summary only
    bar = ProgressBar(len(dataset), file=sys.stderr)
    for batch in loader:
        with torch.no_grad():
            data = teacher.data_preprocessor(batch, False)
            out = teacher(data['inputs'], mode='tensor')
        logits.append(out[-1] if isinstance(out, (tuple, list)) else out)
        labels.append(torch.cat([s.gt_label for s in data['data_samples']]))
        bar.update(len(data['data_samples']))
    return dict(logits=torch.cat(logits).float(), labels=torch.cat(labels),
                classes=getattr(dataset, 'metainfo', {}).get('classes'))


def confidence_summary(logits: torch.Tensor, labels: torch.Tensor,
                       tau: float) -> Dict[str, object]:
    """The paper's statistics of the teacher's confidence weight.

    Args:
        logits (Tensor): Teacher logits (N, C).
        labels (Tensor): Ground-truth labels (N,).
        tau (float): KD temperature.

    Returns:
        Dict[str, object]: ``weight_mean``, ``entropy_t1``, ``entropy_tau``,
        ``uncertain_ratio`` (share of samples with w < 0.5),
        ``one_minus_weight_mean`` (1 - mean w, the paper's "uncertain
        share"), ``teacher_accuracy``, ``num_samples``,
        ``num_classes``, ``log_num_classes``, ``per_class_weight`` (mean w
        per class, None where a class has no sample) and ``weights``.
    """
    weight = confidence_weight(logits, 1.0, 'entropy')
    num_classes = logits.size(1)
    per_class = []
    for c in range(num_classes):
        mask = labels == c
        per_class.append(weight[mask].mean().item() if mask.any() else None)
    return dict(
        num_samples=int(logits.size(0)),
        num_classes=int(num_classes),
        log_num_classes=math.log(num_classes),
        tau=float(tau),
        weight_mean=weight.mean().item(),
        entropy_t1=teacher_entropy(logits, 1.0).mean().item(),
        entropy_tau=teacher_entropy(logits, tau).mean().item(),
        uncertain_ratio=(weight < 0.5).float().mean().item(),
        one_minus_weight_mean=1 - weight.mean().item(),
        teacher_accuracy=(logits.argmax(1) == labels).float().mean().item(),
        per_class_weight=per_class,
        weights=weight.tolist())


def save_plots(summary: Dict[str, object], out_dir: str,
               classes: Optional[List[str]] = None) -> List[str]:
    """Histogram of w and mean w per class, as PNG files.

    Returns:
        List[str]: The written paths.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    paths = []
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(summary['weights'], bins=50, range=(0, 1), color='tab:blue')
    ax.axvline(0.5, color='tab:red', linestyle='--', label='w = 0.5')
    ax.set_xlabel('confidence weight w = 1 - H(p_T) / log C')
    ax.set_ylabel('samples')
    ax.set_title(f"mean w {summary['weight_mean']:.3f}, "
                 f"{100 * summary['uncertain_ratio']:.1f}% with w < 0.5")
    ax.legend()
    fig.tight_layout()
    paths.append(osp.join(out_dir, 'confidence_hist.png'))
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    per_class = [float('nan') if v is None else v
                 for v in summary['per_class_weight']]
    fig, ax = plt.subplots(figsize=(max(6, 0.12 * len(per_class)), 4))
    ax.bar(range(len(per_class)), per_class, color='tab:green')
    ax.set_xlabel('class')
    ax.set_ylabel('mean w')
    ax.set_ylim(0, 1)
    if classes is not None and len(classes) == len(per_class) <= 20:
        ax.set_xticks(range(len(per_class)))
        ax.set_xticklabels(classes, rotation=45, ha='right')
    ax.set_title('mean teacher confidence per class')
    fig.tight_layout()
    paths.append(osp.join(out_dir, 'confidence_per_class.png'))
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths


def main(argv: Optional[List[str]] = None) -> Dict[str, object]:
    """Run the analysis.

    Args:
        argv (List[str], optional): Command line. Defaults to None
            (``sys.argv``).

    Returns:
        Dict[str, object]: The summary (see :func:`confidence_summary`).
    """
    args = parse_args(argv)
    start = time.time()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.data_root:
        apply_data_root(cfg, args.data_root)
    checkpoint = args.checkpoint or cfg.model.get('teacher_ckpt')
    tau = args.tau if args.tau is not None else float(
        cfg.model.get('tau', 4.0))
    out = teacher_logits(cfg, checkpoint, args.split, args.max_samples,
                         args.batch_size)
    summary = confidence_summary(out['logits'], out['labels'], tau)
    os.makedirs(args.out_dir, exist_ok=True)
    summary['plots'] = save_plots(summary, args.out_dir, out['classes'])
    with open(osp.join(args.out_dir, 'summary.json'), 'w') as f:
        json.dump({k: v for k, v in summary.items() if k != 'weights'}, f,
                  indent=2)
    print(f"samples: {summary['num_samples']}  classes: "
          f"{summary['num_classes']}  teacher top-1: "
          f"{100 * summary['teacher_accuracy']:.2f}%")
    print(f"mean w: {summary['weight_mean']:.4f}")
    print(f"mean H(T=1): {summary['entropy_t1']:.4f} nats  "
          f"mean H(T={tau:g}): {summary['entropy_tau']:.4f} nats  "
          f"(log C = {summary['log_num_classes']:.4f})")
    print(f"share with w < 0.5: {100 * summary['uncertain_ratio']:.2f}%  "
          f"1 - mean w (the paper's uncertain share): "
          f"{100 * summary['one_minus_weight_mean']:.2f}%")
    print('plots: ' + ', '.join(summary['plots']))
    print(f"teacher confidence: {summary['num_samples']} {args.split} "
          f"samples in {time.time() - start:.1f} s, mean w "
          f"{summary['weight_mean']:.3f}, "
          f"{100 * summary['uncertain_ratio']:.1f}% with w < 0.5, "
          f'summary in {osp.join(args.out_dir, "summary.json")}')
    return summary


if __name__ == '__main__':
    main()
