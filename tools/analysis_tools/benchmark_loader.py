"""Time a config's training data loader alone: milliseconds per image.

Builds ``train_dataloader`` of each config as the runner does and iterates it
(after one warm-up batch), so decoding, augmentation, collation and the
worker setup are all included and the model is not. Configs are timed
interleaved, round by round, so a shared machine's load affects each the same
and their ratio is comparable; the median over rounds is printed.

Example (the CIFAR-10 JPEG folder against the same images decoded once into
memory, the low-data protocol's teacher augmentation)::

    python tools/analysis_tools/benchmark_loader.py \\
        configs/baselines/resnet18_1xb64_cifar10.py \\
        configs/lowdata_cifar10/resnet50-w16_1xb128_cifar10.py \\
        --data-root ~/.cache/mmrazor_udskd/cifar10 --batches 20 --rounds 3 \\
        --cfg-options train_dataloader.batch_size=128
"""
import argparse
import statistics
import sys
import time
from typing import Dict, List, Optional, Sequence

import mmrazor_udskd  # noqa: F401  (registrations, scope)
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmrazor_udskd.utils import apply_data_root

__all__ = ['parse_args', 'time_loader', 'main']


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('configs', nargs='+', help='configs to time')
    p.add_argument('--data-root', default=None,
                   help='data_root of every dataloader (as tools/train.py '
                   '--cfg-options data_root=...)')
    p.add_argument('--batches', type=int, default=20,
                   help='timed batches per round')
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='overrides for every config')
    return p.parse_args(argv)


def time_loader(loader, batches: int) -> float:
    """Milliseconds per image over ``batches`` batches after one warm-up.

    Args:
        loader (DataLoader): The data loader.
        batches (int): Timed batches (stops early at the end of an epoch).

    Returns:
        float: ms per image.
    """
    it = iter(loader)
    next(it)  # workers started, caches warm
    images, start = 0, time.perf_counter()
    for _ in range(batches):
        try:
            data = next(it)
        except StopIteration:
            break
        images += len(data['inputs'])
    return 1000.0 * (time.perf_counter() - start) / max(images, 1)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, List[float]]:
    args = parse_args(argv)
    loaders = {}
    for path in args.configs:
        cfg = Config.fromfile(path)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        if args.data_root:
            apply_data_root(cfg, args.data_root)
        init_default_scope(cfg.get('default_scope', 'mmpretrain'))
        loaders[path] = Runner.build_dataloader(cfg.train_dataloader)
    times: Dict[str, List[float]] = {path: [] for path in loaders}
    for _ in range(args.rounds):
        for path, loader in loaders.items():
            times[path].append(time_loader(loader, args.batches))
    first = statistics.median(times[args.configs[0]])
    for path, values in times.items():
        median = statistics.median(values)
        print(f'{median:8.3f} ms/image  ({first / median:5.2f}x the first)  '
              f'{path}')
    sys.stdout.flush()
    return times


if __name__ == '__main__':
    main()
