"""Shared fixtures: the repo root, real-data subsets and a train CLI runner."""
import os
import os.path as osp
import subprocess
import sys
from typing import Callable, Iterator, List

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

#: cfg-options that make any of our configs cheap on a CPU test machine
CPU_CFG_OPTIONS: List[str] = [
    'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'val_dataloader.num_workers=0',
    'val_dataloader.persistent_workers=False',
    'test_dataloader.num_workers=0',
    'test_dataloader.persistent_workers=False',
    'default_hooks.logger.interval=1',
]


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``-n``, on by default in pytest.ini), split the
    cores between the workers: each worker, and every training subprocess
    it starts, runs ``cores // workers`` intra-op threads (at least 1), so
    parallel workers do not oversubscribe the CPU. An ``OMP_NUM_THREADS``
    set by the user is kept."""
    workers = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '0'))
    if workers < 1 or 'OMP_NUM_THREADS' in os.environ:
        return
    cores = (len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity')
             else os.cpu_count() or 1)
    threads = max(1, cores // workers)
    os.environ['OMP_NUM_THREADS'] = str(threads)
    import torch
    torch.set_num_threads(threads)


def pytest_collection_modifyitems(config: pytest.Config,
                                   items: List[pytest.Item]) -> None:
    """Files with ``slow`` tests first, each file's tests kept together and
    in order: under pytest-xdist the long files start at once and the short
    ones fill in at the end, instead of one worker finishing a long file
    alone."""
    slow_files = {item.path for item in items
                  if item.get_closest_marker('slow')}
    items.sort(key=lambda item: item.path not in slow_files)


@pytest.fixture(scope='session')
def repo_root() -> str:
    return REPO_ROOT


@pytest.fixture(scope='session')
def cifar10_root() -> str:
    """The extracted CIFAR-10 JPEG tree from ../shared/data (skips if
    absent)."""
    from mmrazor_udskd.utils import extract_dataset
    root = extract_dataset('cifar10')
    if root is None:
        pytest.skip('../shared/data/cifar10-jpg.tar.gz is absent '
                    '(set MMRAZOR_UDSKD_SHARED_DATA to its folder)')
    return root


@pytest.fixture(scope='session')
def cifar10_tiny(cifar10_root: str, tmp_path_factory) -> str:
    """100 real CIFAR-10 train images (10 per class) and 100 test images, as
    a CustomDataset tree ``<root>/train/<cls>``, ``<root>/test/<cls>``."""
    from mmrazor_udskd.utils import make_subset
    out = str(tmp_path_factory.mktemp('cifar10_tiny'))
    make_subset(cifar10_root, 'train', 10, out)
    make_subset(cifar10_root, 'test', 10, out)
    return out


def run_tool(args: List[str], timeout: int = 600,
             env: dict = None) -> subprocess.CompletedProcess:
    """Run ``python <args>`` from the repo root; return the finished process
    (stdout and stderr merged in ``.stdout``)."""
    full_env = dict(os.environ)
    full_env.setdefault('OMP_NUM_THREADS', '2')
    full_env['PYTHONWARNINGS'] = 'ignore'
    if env:
        full_env.update(env)
    return subprocess.run([sys.executable] + args, cwd=REPO_ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout, env=full_env)


@pytest.fixture(scope='session')
def train_cli() -> Callable[..., subprocess.CompletedProcess]:
    """``train_cli(config, work_dir, *cfg_options, extra_args=[])`` runs
    tools/train.py on CPU with cheap dataloader settings."""

    def _run(config: str, work_dir: str, *cfg_options: str,
             extra_args: List[str] = (), timeout: int = 600,
             env: dict = None) -> subprocess.CompletedProcess:
        args = ['tools/train.py', config, '--work-dir', work_dir,
                *extra_args, '--cfg-options', *CPU_CFG_OPTIONS, *cfg_options]
        proc = run_tool(args, timeout=timeout, env=env)
        return proc

    return _run


@pytest.fixture(autouse=True)
def _restore_mmengine_globals() -> Iterator[None]:
    """Restore MMEngine's current ``DefaultScope`` and ``MessageHub`` after
    every test.

    A ``Runner`` built in a test makes its scope (``mmpretrain``) and its
    message hub the current instances; later tests would then resolve
    unscoped registry types (our losses in mmrazor's registry) in the wrong
    scope and read a stale iteration.
    """
    from mmengine.logging import MessageHub
    from mmengine.registry import DefaultScope
    saved = {cls: dict(cls._instance_dict) for cls in (DefaultScope,
                                                       MessageHub)}
    yield
    for cls, instances in saved.items():
        cls._instance_dict.clear()
        cls._instance_dict.update(instances)


@pytest.fixture(autouse=True)
def _restore_process_state() -> Iterator[None]:
    """Threads, allocator settings and RNG states as the test found them;
    no process group left behind (see :func:`process_state_restored`)."""
    from .helpers.process_state import process_state_restored
    with process_state_restored():
        yield


@pytest.fixture(scope='session')
def synthetic_cifar10(tmp_path_factory) -> str:
    """A CIFAR-10-shaped CustomDataset tree of random 32x32 PNGs: 10 class
    folders, 2 train and 1 test image each (no real data needed)."""
    import numpy as np
    from PIL import Image
    root = tmp_path_factory.mktemp('synthetic_cifar10')
    rng = np.random.default_rng(0)
    for split, per_class in (('train', 2), ('test', 1)):
        for cls in range(10):
            folder = root / split / f'class{cls}'
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f'{i}.png')
    return str(root)
