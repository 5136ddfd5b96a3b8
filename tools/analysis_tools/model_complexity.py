"""Parameters and FLOPs of the teacher and every student of a config, and
the compression ratios (the UDSKD paper's Table IV, arXiv 2511.18826).

::

    python tools/analysis_tools/model_complexity.py CONFIG \\
        [--shape H [W]] [--json OUT.json] [--cfg-options k=v ...]

Works with UDSKD configs (``model.teacher`` + ``model.students``), MMRazor
``SingleTeacherDistill`` configs such as KD, DKD and CKD (``model.teacher``
+ ``model.architecture``), DKEL (``model.branches``) and plain classifier
configs (``model``). Each network is built on the CPU without weights and
traced once by MMEngine's complexity analysis on one image of
``3 x H x W``; ``--shape`` defaults to the crop size of the config's train
pipeline (32 for the CIFAR configs, 224 for ImageNet-100).

FLOPs follow MMEngine's (fvcore's) convention: one multiply-add counts as
one FLOP; convolutions and linear layers by their multiply-adds, inference
BatchNorm as 2 per element, pooling as 1 per input element; activations
and residual additions are not counted. Ratios are teacher / student, so a ratio of 2.0 means the
student is half the teacher's size.
"""
import argparse
import json
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))

import mmrazor_udskd  # noqa: E402,F401  isort:skip  (compat, registries)
import torch  # noqa: E402
from mmengine.config import Config, ConfigDict, DictAction  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Parameters and FLOPs of the networks of a config')
    parser.add_argument('config', help='config file (path or scope::path)')
    parser.add_argument(
        '--shape', type=int, nargs='+', default=None,
        help='input size: H, or H W (default: the train crop size)')
    parser.add_argument('--json', default=None,
                        help='also write the rows to this JSON file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config')
    return parser.parse_args(argv)


def networks(model_cfg: ConfigDict) -> List[Tuple[str, str, dict]]:
    """``(name, role, model dict)`` of every network of a ``model`` config.

    Args:
        model_cfg (ConfigDict): The config's ``model``.

    Returns:
        List[Tuple[str, str, dict]]: role is ``teacher``, ``student`` (one
        per student / branch / the single student) or ``model``.
    """
    nets = []
    if model_cfg.get('teacher') is not None:
        nets.append(('teacher', 'teacher', model_cfg['teacher']))
    if model_cfg.get('students'):
        nets += [(n, 'student', c) for n, c in model_cfg['students'].items()]
    elif model_cfg.get('branches'):
        nets += [(n, 'student', c) for n, c in model_cfg['branches'].items()]
    elif model_cfg.get('architecture') is not None:
        nets.append(('student', 'student', model_cfg['architecture']))
    if not nets:
        nets.append(('model', 'model', model_cfg))
    return nets


def infer_shape(cfg: Config) -> Tuple[int, int]:
    """The crop size of the train pipeline (square), else 224."""
    dataset = cfg.get('train_dataloader', {}).get('dataset', {})
    while 'pipeline' not in dataset and 'dataset' in dataset:
        dataset = dataset['dataset']
    for step in dataset.get('pipeline', []) or []:
        size = step.get('crop_size', step.get('scale')) if step.get(
            'type') in ('RandomCrop', 'RandomResizedCrop',
                        'CenterCrop') else None
        if size is not None:
            size = size if isinstance(size, Sequence) else (size, size)
            return int(size[0]), int(size[-1])
    if 'img_size' in dataset:
        return int(dataset['img_size']), int(dataset['img_size'])
    return 224, 224


def complexity(model_cfg: dict, shape: Tuple[int, int]) -> Dict[str, int]:
    """Parameters and FLOPs (as MMEngine counts them, see the module doc) of
    one network in eval mode, built without weights, for one ``3 x H x W``
    image."""
    from mmengine.analysis import FlopAnalyzer, parameter_count
    from mmrazor.registry import MODELS
    model_cfg = dict(model_cfg)
    if 'cfg_path' in model_cfg:
        model_cfg['pretrained'] = False
    model_cfg.pop('init_cfg', None)
    net = MODELS.build(model_cfg)
    net.eval()
    with torch.no_grad():
        flops = FlopAnalyzer(net, torch.zeros(1, 3, *shape))
        flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        total = flops.total()
    return dict(params=int(parameter_count(net)['']), flops=int(total))


def rows_for(cfg: Config, shape: Tuple[int, int]) -> List[dict]:
    """One row per network, with ratios against the teacher if any."""
    rows = []
    for name, role, model_cfg in networks(cfg.model):
        rows.append(dict(name=name, role=role, **complexity(model_cfg,
                                                            shape)))
    teacher = next((r for r in rows if r['role'] == 'teacher'), None)
    for row in rows:
        if teacher is not None and row['role'] == 'student':
            row['params_ratio'] = teacher['params'] / row['params']
            row['flops_ratio'] = teacher['flops'] / row['flops']
    return rows


def table(rows: List[dict], shape: Tuple[int, int]) -> str:
    """A Markdown table of ``rows``."""
    lines = [
        f'input 3x{shape[0]}x{shape[1]}, batch 1; FLOPs as MMEngine counts '
        'them (a multiply-add is 1)',
        '',
        '| network | role | params (M) | FLOPs (G) | params T/S | '
        'FLOPs T/S |',
        '| --- | --- | ---: | ---: | ---: | ---: |',
    ]
    for r in rows:
        ratio = (f"{r['params_ratio']:.2f}x", f"{r['flops_ratio']:.2f}x") \
            if 'params_ratio' in r else ('', '')
        lines.append(f"| {r['name']} | {r['role']} | {r['params'] / 1e6:.3f}"
                     f" | {r['flops'] / 1e9:.4f} | {ratio[0]} | {ratio[1]} |")
    students = [r for r in rows if r['role'] == 'student']
    if len(students) > 1:
        total_p = sum(r['params'] for r in students)
        total_f = sum(r['flops'] for r in students)
        lines.append(f'| all students | sum | {total_p / 1e6:.3f} | '
                     f'{total_f / 1e9:.4f} | | |')
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> List[dict]:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.shape:
        shape = (args.shape[0], args.shape[-1])
    else:
        shape = infer_shape(cfg)
    rows = rows_for(cfg, shape)
    print(table(rows, shape))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(shape=list(shape), rows=rows), f, indent=2)
    return rows


if __name__ == '__main__':
    main()
