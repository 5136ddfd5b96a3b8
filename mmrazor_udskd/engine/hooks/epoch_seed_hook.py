"""Re-seed the random number generators at the start of every epoch."""
import random
from typing import Optional

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

__all__ = ['EpochSeedHook', 'epoch_seed']


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """A well-mixed 32-bit seed for ``(seed, epoch, rank)``.

    Args:
        seed (int): The run's seed.
        epoch (int): 0-based epoch.
        rank (int): Process rank (0 unless ranks differ). Defaults to 0.

    Returns:
        int: The seed of that epoch.
    """
    return int(np.random.SeedSequence([seed, epoch, rank])
               .generate_state(1)[0])


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Make every epoch's randomness a function of ``(seed, epoch)`` so that
    ``--resume`` reproduces an uninterrupted run exactly.

    MMEngine seeds the generators once, when the runner starts, and does not
    store their state in checkpoints. A run resumed at epoch ``e`` therefore
    draws different data augmentations (``RandomCrop``, ``RandomFlip``,
    ``ColorJitter`` use NumPy's global generator when ``num_workers=0``),
    dropout masks and batch-augmentation mixes than the uninterrupted run
    did in epoch ``e``. This hook re-seeds Python's ``random``, NumPy and
    torch (CPU and CUDA) in the main process with :func:`epoch_seed` at
    ``before_train_epoch``, so epoch ``e`` draws the same numbers either
    way. Dataloader worker processes are seeded by MMEngine's
    ``worker_init_fn`` when they start; with ``persistent_workers=True``
    they keep their generators across epochs, so augmentations in workers
    are then not reproduced after a resume.

    Nothing happens when the run has no seed (``randomness.seed=None`` and
    no ``seed`` here). Ranks differ only with
    ``randomness.diff_rank_seed=True``.

    Args:
        seed (int, optional): Base seed; None uses the runner's seed.
            Defaults to None.
    """

    priority = 'VERY_HIGH'

    def __init__(self, seed: Optional[int] = None) -> None:
        self.seed = seed

    def before_train_epoch(self, runner) -> None:
        """Re-seed for ``runner.epoch``.

        Args:
            runner (Runner): The runner.
        """
        base = self.seed if self.seed is not None else runner.seed
        if base is None:
            return
        randomness = runner.cfg.get('randomness', None) or {}
        rank = get_rank() if randomness.get('diff_rank_seed', False) else 0
        state = epoch_seed(int(base), runner.epoch, rank)
        random.seed(state)
        np.random.seed(state)
        torch.manual_seed(state)
