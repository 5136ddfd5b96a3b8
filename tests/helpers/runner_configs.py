"""Config writers and helpers shared by the tests that train through the
runner or tools/train.py (tiny nets on the CIFAR-10 UDSKD config)."""
import os
import os.path as osp
import pickle
import socket
from typing import Dict, List, Optional

import pytest
import torch

from ..conftest import REPO_ROOT

CIFAR_UDSKD = osp.join(
    REPO_ROOT, 'configs/udskd/'
    'udskd_logits_resnet50_resnet18-mobilenet-v2_1xb64_cifar10.py')
PROBE_MODULE = 'tests.helpers.probe_hooks'
#: the default custom hooks of configs/_base_/default_runtime.py
DEFAULT_HOOKS = ("dict(type='DataSanityHook'), dict(type='SyncLogVarsHook'), "
                 "dict(type='EpochSeedHook')")


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def tiny_net(width: int, num_classes: int = 10) -> dict:
    """A one-stage ResNet_CIFAR classifier (a few thousand parameters)."""
    return dict(
        _delete_=True, _scope_='mmpretrain', type='ImageClassifier',
        backbone=dict(type='ResNet_CIFAR', depth=18, stem_channels=width,
                      base_channels=width, num_stages=1, out_indices=(0, ),
                      strides=(1, ), dilations=(1, )),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=num_classes,
                  in_channels=width,
                  loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
                  topk=(1, 5)))


def write_config(path: str, body: str = '', tiny: bool = True,
                 imports: List[str] = (PROBE_MODULE, )) -> str:
    """A config based on the CIFAR-10 UDSKD config (its dataset, schedule,
    runtime and default hooks), with tiny nets when ``tiny``.

    Args:
        path (str): Where to write it.
        body (str): Extra config lines.
        tiny (bool): Replace teacher and students by :func:`tiny_net`.
        imports (List[str]): Extra ``custom_imports``.

    Returns:
        str: ``path``.
    """
    lines = [f'_base_ = [{CIFAR_UDSKD!r}]',
             'custom_imports = dict(imports=' +
             repr(['mmrazor_udskd', *imports]) +
             ', allow_failed_imports=False)',
             'log_processor = dict(window_size=1)']
    if tiny:
        lines.append('model = dict(teacher=' + repr(tiny_net(8)) +
                     ', students=dict(r18=' + repr(tiny_net(4)) +
                     ', mbv2=' + repr(tiny_net(6)) + '))')
    lines.append(body)
    # a random teacher on purpose (the tests need no trained one)
    defined = tiny or 'model = dict' in body
    lines.append("model = dict(model, teacher_ckpt='random')" if defined
                 else "model = dict(teacher_ckpt='random')")
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return path


def load_ckpt(path: str) -> Dict:
    """A runner checkpoint, weights-only (the compat allow-list)."""
    return torch.load(path, map_location='cpu', weights_only=True)


def assert_same_tensors(a, b, what: str) -> None:
    """Nested dicts/lists of tensors and numbers are exactly equal."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), what
    elif isinstance(a, dict):
        assert set(a) == set(b), (what, set(a) ^ set(b))
        for key in a:
            assert_same_tensors(a[key], b[key], f'{what}.{key}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), what
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_tensors(x, y, f'{what}[{i}]')
    else:
        assert a == b, (what, a, b)


def subprocess_env(**extra: str) -> Dict[str, str]:
    """The environment for training subprocesses."""
    env = dict(os.environ)
    env.update(PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1',
               PYTHONPATH=REPO_ROOT + os.pathsep + env.get('PYTHONPATH', ''))
    env.update(extra)
    return env


class _Opener:
    """Unpickles to a call of ``open(path, 'w')``: code a weights-only load
    refuses to run."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


def assert_weights_only_is_default(folder: str) -> None:
    """``torch.load`` with its defaults refuses a pickle that would run code,
    so weights-only loading is not turned off in this process (by torch's
    environment opt-out or otherwise)."""
    marker = osp.join(folder, 'opened-by-unpickling')
    path = osp.join(folder, 'weights-only-probe.pth')
    torch.save({'x': _Opener(marker)}, path)
    with pytest.raises(pickle.UnpicklingError,
                       match=r'(?s)Weights only load failed.*GLOBAL '
                       r'(io|builtins)\.open'):
        torch.load(path)
    assert not osp.exists(marker)


def build_runner(tmp_path, data_root: str, body: str = '',
                 options: Optional[Dict] = None, name: str = 'run'):
    """An in-process ``Runner`` of the tiny CIFAR-10 UDSKD config.

    Args:
        tmp_path: pytest's ``tmp_path``.
        data_root (str): The CIFAR-10 subset.
        body (str): Extra config lines.
        options (Dict, optional): ``--cfg-options``-style overrides.
        name (str): Config and work_dir name (unique per test).

    Returns:
        Runner: Not yet trained.
    """
    from mmengine.config import Config
    from mmengine.runner import Runner

    from mmrazor_udskd.utils import apply_data_root
    cfg = Config.fromfile(write_config(str(tmp_path / f'{name}.py'), body))
    opts = {
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'val_dataloader.num_workers': 0,
        'val_dataloader.persistent_workers': False,
        'test_dataloader.num_workers': 0,
        'test_dataloader.persistent_workers': False,
        'default_hooks.logger.interval': 1,
        'train_dataloader.batch_size': 8,
        'train_dataloader.dataset.indices': 16,
        'val_dataloader.batch_size': 10,
        'val_dataloader.dataset.indices': 10,
        'train_cfg.max_epochs': 1,
    }
    opts.update(options or {})
    cfg.merge_from_dict(opts)
    apply_data_root(cfg, data_root)
    cfg.work_dir = str(tmp_path / name)
    cfg.experiment_name = f'{name}_{os.getpid()}_{id(cfg)}'
    return Runner.from_cfg(cfg)
