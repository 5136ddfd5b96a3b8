"""tools/analysis_tools/benchmark_loader.py: it times the loader it is given
(one warm-up batch untimed, images counted) and builds real configs'
loaders."""
import os.path as osp

from ..conftest import REPO_ROOT
from ..helpers.tool_modules import load_tool

bench = load_tool('analysis_tools/benchmark_loader')


class _Loader:
    """Batches of 4 images; the first (warm-up) batch sleeps."""

    def __init__(self, batches: int, delay: float) -> None:
        self.batches, self.delay, self.served = batches, delay, 0

    def __iter__(self):
        import time
        for i in range(self.batches):
            if i == 0:
                time.sleep(self.delay)
            self.served += 1
            yield dict(inputs=[None] * 4)


def test_warm_up_batch_is_not_timed_and_images_are_counted():
    loader = _Loader(batches=6, delay=0.5)
    ms = bench.time_loader(loader, batches=3)
    assert loader.served == 4  # warm-up + 3 timed
    assert 0 <= ms < 50  # the 0.5 s warm-up would be 500/12 ms per image
    # an epoch shorter than the request stops at its end
    short = _Loader(batches=3, delay=0.0)
    assert bench.time_loader(short, batches=10) >= 0
    assert short.served == 3


def test_times_two_configs_on_synthetic_images(synthetic_cifar10, capsys):
    configs = [osp.join(REPO_ROOT, 'configs', c) for c in (
        'baselines/resnet18_1xb64_cifar10.py',
        'lowdata_cifar10/resnet18-w16_1xb64_cifar10-100pc.py')]
    times = bench.main([*configs, '--data-root', synthetic_cifar10,
                        '--batches', '2', '--rounds', '2', '--cfg-options',
                        'train_dataloader.batch_size=4',
                        'train_dataloader.num_workers=0',
                        'train_dataloader.persistent_workers=False'])
    assert [len(v) for v in times.values()] == [2, 2]
    assert all(v > 0 for values in times.values() for v in values)
    out = capsys.readouterr().out
    assert out.count('ms/image') == 2 and '1.00x the first' in out
