"""The suite-wide fixture's undo (``tests/helpers/process_state.py``)."""
import random

import numpy as np
import pytest
import torch
import torch.distributed as dist

from mmrazor_udskd.utils import malloc
from .helpers.process_state import process_state_restored


def _draws() -> tuple:
    return (random.random(), float(np.random.rand()), float(torch.rand(())))


def test_threads_rng_and_allocator_are_restored(monkeypatch):
    restored = []
    real_restore = malloc.restore_default_malloc

    def spy() -> bool:
        restored.append(True)
        return real_restore()

    monkeypatch.setattr(malloc, 'restore_default_malloc', spy)
    threads = torch.get_num_threads()
    with process_state_restored():
        first = _draws()
        torch.set_num_threads(1 if threads != 1 else 2)
        random.seed(7)
        np.random.seed(7)
        torch.manual_seed(7)
        applied = malloc.retain_freed_memory()
    assert torch.get_num_threads() == threads
    assert _draws() == first  # the RNG states as the block found them
    assert restored == ([True] if applied else [])
    # nothing changed the allocator: nothing to restore
    with process_state_restored():
        torch.ones(4).sum()
    assert restored == ([True] if applied else [])


def test_a_leftover_process_group_fails_and_is_destroyed(tmp_path):
    with pytest.raises(pytest.fail.Exception, match='process group'):
        with process_state_restored():
            dist.init_process_group(
                'gloo', init_method=f'file://{tmp_path / "store"}', rank=0,
                world_size=1)
    assert not dist.is_initialized()
