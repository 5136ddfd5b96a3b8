"""CPUMallocHook / utils.malloc: freed memory is reused, not faulted in."""
import json
import subprocess
import sys
import textwrap

import pytest
import torch
from mmengine.registry import HOOKS

from mmrazor_udskd.engine.hooks import CPUMallocHook
from mmrazor_udskd.utils import malloc

pytestmark = pytest.mark.skipif(malloc.glibc() is None,
                                reason='needs glibc (mallopt)')

# Allocates and frees a 64 MiB tensor (above glibc's largest mmap threshold)
# a few times and counts the minor page faults of the later rounds.
_CHILD = textwrap.dedent('''
    import json, resource, sys, torch
    from mmrazor_udskd.utils import malloc
    if sys.argv[1].startswith('retain'):
        assert malloc.retain_freed_memory()
    if sys.argv[1] == 'retain-restore':
        assert malloc.restore_default_malloc()
    faults = []
    for _ in range(6):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        x = torch.ones(16 * 1024 * 1024)  # 64 MiB, every page written
        del x
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                      - before)
    print(json.dumps(faults))
''')


def _faults(mode: str) -> list:
    out = subprocess.run([sys.executable, '-c', _CHILD, mode], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.slow
def test_retain_stops_refaulting_freed_blocks():
    pages = 64 * 1024 * 1024 // 4096
    default, retained = _faults('default'), _faults('retain')
    # glibc's default: the 64 MiB block is mmap-ed and unmapped every
    # time, so each round faults all of its pages in again
    assert min(default) > 0.9 * pages, default
    # retained: the first rounds fault the pages in (the heap settles in
    # one or two rounds), then the same pages are reused
    assert retained[0] > 0.9 * pages, retained
    assert max(retained[3:]) < 0.02 * pages, retained


@pytest.mark.slow
def test_restore_default_malloc():
    pages = 64 * 1024 * 1024 // 4096
    restored = _faults('retain-restore')
    # back to unmapping the block on free: every round faults again
    assert min(restored) > 0.9 * pages, restored


def test_retain_rejects_bad_threshold():
    with pytest.raises(ValueError, match='trim_threshold'):
        malloc.retain_freed_memory(-1)
    with pytest.raises(ValueError, match='trim_threshold'):
        malloc.retain_freed_memory(2**31)


class _Runner:

    def __init__(self, module: torch.nn.Module) -> None:
        self.model = module


def test_hook_applies_on_cpu_only(monkeypatch):
    calls = []
    monkeypatch.setattr(
        'mmrazor_udskd.engine.hooks.cpu_malloc_hook.retain_freed_memory',
        lambda threshold: calls.append(threshold) or True)
    hook = HOOKS.build(dict(type='CPUMallocHook', trim_threshold=1 << 30))
    assert isinstance(hook, CPUMallocHook)
    hook.before_run(_Runner(torch.nn.Linear(2, 2)))
    assert calls == [1 << 30] and hook.applied
    meta = torch.nn.Linear(2, 2, device='meta')  # not the CPU: no change
    hook2 = CPUMallocHook()
    hook2.before_run(_Runner(meta))
    assert calls == [1 << 30] and not hook2.applied


def test_default_runtime_has_the_hook(repo_root):
    from mmengine.config import Config
    cfg = Config.fromfile(
        f'{repo_root}/configs/udskd/'
        'udskd_logits_resnet50_resnet18-mobilenet-v2_1xb64_cifar10.py')
    assert dict(type='CPUMallocHook') in cfg.custom_hooks
    kd = Config.fromfile(f'{repo_root}/configs/kd/'
                         'kd_logits_resnet50_resnet18_1xb64_cifar10.py')
    assert dict(type='CPUMallocHook') in kd.custom_hooks
