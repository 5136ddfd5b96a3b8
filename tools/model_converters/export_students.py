"""Export every student of a multi-student distillation checkpoint (UDSKD,
Gore, Dey, Mishra, arXiv 2511.18826) as a standalone mmpretrain model.

::

    python tools/model_converters/export_students.py CONFIG CKPT \\
        --out-dir DIR [--students r18 mbv2] [--cfg-options k=v ...]

For every student ``<name>`` (the keys of ``model.students`` in CONFIG) it
writes

* ``DIR/<name>.pth``: ``{'state_dict': <the student's own keys, without the
  '<name>.' prefix>, 'meta': {'dataset_meta': ..., 'source': ...}}``;
* ``DIR/<name>.py``: an mmpretrain config with the student's ``model`` dict,
  the ``data_preprocessor`` and the test pipeline (as
  ``test_dataloader.dataset.pipeline``), plus ``custom_imports`` when the
  student uses a module registered by ``mmrazor_udskd`` (e.g.
  ``MobileNetV2_CIFAR``).

Both load with ``mmpretrain.get_model(DIR/<name>.py,
pretrained=DIR/<name>.pth)`` or ``ImageClassificationInferencer``.
"""
import argparse
import copy
import os
import os.path as osp
import sys
from typing import Any, Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))

import torch  # noqa: E402
from mmengine.config import Config, ConfigDict, DictAction  # noqa: E402

import mmrazor_udskd  # noqa: E402,F401  (compat patches + registrations)

PLUGIN = 'mmrazor_udskd'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export the students of a multi-student checkpoint as '
        'standalone mmpretrain models')
    parser.add_argument('config', help='the distillation config')
    parser.add_argument('checkpoint', help='a checkpoint of that config')
    parser.add_argument('--out-dir', required=True, help='output folder')
    parser.add_argument('--students', nargs='+',
                        help='student names to export (default: all)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config')
    return parser.parse_args(argv)


def _types(cfg: Any) -> List[str]:
    """Every string ``type`` in a nested config."""
    found = []
    if isinstance(cfg, dict):
        if isinstance(cfg.get('type'), str):
            found.append(cfg['type'])
        for value in cfg.values():
            found += _types(value)
    elif isinstance(cfg, (list, tuple)):
        for value in cfg:
            found += _types(value)
    return found


def needs_plugin(model_cfg: dict) -> bool:
    """Whether a model config uses a module registered by the plugin.

    Args:
        model_cfg (dict): An mmpretrain model config.

    Returns:
        bool: True if any ``type`` resolves to a class of ``mmrazor_udskd``.
    """
    from mmpretrain.registry import MODELS
    for name in _types(model_cfg):
        cls = MODELS.get(name.split('.')[-1])
        if cls is not None and cls.__module__.startswith(PLUGIN):
            return True
    return False


def _plain(cfg: Any) -> Any:
    """ConfigDicts to plain dicts (for a clean dump)."""
    if isinstance(cfg, ConfigDict):
        cfg = cfg.to_dict()
    return copy.deepcopy(cfg)


#: plugin layers with a plain mmcv/mmpretrain twin of the same math, swapped
#: in the exported config so that the student needs no plugin at inference
PLAIN_TWINS = {'InplaceReLU6': 'ReLU6'}


def _plain_twins(cfg: Any) -> Any:
    """``cfg`` with every ``type`` in :data:`PLAIN_TWINS` replaced."""
    if isinstance(cfg, dict):
        out = {k: _plain_twins(v) for k, v in cfg.items()}
        kind = out.get('type')
        if isinstance(kind, str) and kind.split('.')[-1] in PLAIN_TWINS:
            out['type'] = PLAIN_TWINS[kind.split('.')[-1]]
        return out
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(_plain_twins(v) for v in cfg)
    return cfg


def student_config(cfg: Config, name: str) -> Config:
    """A standalone mmpretrain config for one student.

    Args:
        cfg (Config): The distillation config.
        name (str): Student name.

    Returns:
        Config: ``model`` (with ``data_preprocessor``; plugin layers with a
        plain twin, see :data:`PLAIN_TWINS`, swapped), ``data_preprocessor``,
        ``test_pipeline``, ``test_dataloader.dataset.pipeline``,
        ``default_scope`` and, if needed, ``custom_imports``.
    """
    model = _plain_twins(_plain(cfg.model.students[name]))
    model.pop('_scope_', None)
    preprocessor = _plain(cfg.model.get('data_preprocessor') or
                          cfg.get('data_preprocessor') or
                          dict(type='ClsDataPreprocessor'))
    if isinstance(preprocessor.get('type'), str):
        preprocessor['type'] = preprocessor['type'].split('.')[-1]
    model['data_preprocessor'] = copy.deepcopy(preprocessor)
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    pipeline = _plain(loader.dataset.pipeline) if loader else [
        dict(type='LoadImageFromFile'), dict(type='PackInputs')]
    out = dict(
        default_scope='mmpretrain',
        model=model,
        data_preprocessor=preprocessor,
        test_pipeline=pipeline,
        test_dataloader=dict(dataset=dict(pipeline=copy.deepcopy(pipeline))))
    if needs_plugin(model):
        out['custom_imports'] = dict(imports=[PLUGIN],
                                     allow_failed_imports=False)
    return Config(out)


def split_state_dict(state_dict: Dict[str, torch.Tensor],
                     name: str) -> Dict[str, torch.Tensor]:
    """The keys of child module ``name``, without its prefix.

    Args:
        state_dict (Dict[str, Tensor]): The algorithm's state dict (a
            ``module.`` prefix from DDP is ignored).
        name (str): Student name.

    Returns:
        Dict[str, Tensor]: The student's own state dict.
    """
    prefix = f'{name}.'
    own = {}
    for key, value in state_dict.items():
        if key.startswith('module.'):
            key = key[len('module.'):]
        if key.startswith(prefix):
            own[key[len(prefix):]] = value
    return own


def main(argv: Optional[List[str]] = None) -> Dict[str, Dict[str, str]]:
    """Export the students.

    Args:
        argv (List[str], optional): Command line. Defaults to None
            (``sys.argv``).

    Returns:
        Dict[str, Dict[str, str]]: Per student, the written ``config`` and
        ``checkpoint`` paths.
    """
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    students = cfg.model.get('students')
    if not students:
        raise ValueError(f'{args.config}: model.students is empty; this tool '
                         'exports the students of a multi-student config')
    names = args.students or list(students)
    unknown = set(names) - set(students)
    if unknown:
        raise ValueError(f'--students {sorted(unknown)} are not in '
                         f'model.students {list(students)}')

    ckpt = torch.load(args.checkpoint, map_location='cpu', weights_only=True)
    state_dict = ckpt.get('state_dict', ckpt)
    meta = ckpt.get('meta', {}) or {}
    os.makedirs(args.out_dir, exist_ok=True)
    written = {}
    tensors = 0
    for i, name in enumerate(names, 1):
        own = split_state_dict(state_dict, name)
        if not own:
            raise KeyError(f'{args.checkpoint} has no keys "{name}.*"')
        out_meta = dict(source=osp.abspath(args.checkpoint),
                        student=name,
                        config=osp.abspath(args.config))
        if 'dataset_meta' in meta:
            out_meta['dataset_meta'] = meta['dataset_meta']
        for key in ('epoch', 'iter'):
            if key in meta:
                out_meta[key] = meta[key]
        ckpt_path = osp.join(args.out_dir, f'{name}.pth')
        torch.save({'state_dict': own, 'meta': out_meta}, ckpt_path)
        cfg_path = osp.join(args.out_dir, f'{name}.py')
        student_config(cfg, name).dump(cfg_path)
        written[name] = dict(config=cfg_path, checkpoint=ckpt_path)
        tensors += len(own)
        # progress on stderr; stdout keeps the one-line summary
        print(f'[{i}/{len(names)}] {name}: {len(own)} tensors -> '
              f'{ckpt_path}, {cfg_path}', file=sys.stderr, flush=True)
    print(f'exported {len(written)} students ({", ".join(written)}; '
          f'{tensors} tensors) to {args.out_dir}')
    return written


if __name__ == '__main__':
    main()
