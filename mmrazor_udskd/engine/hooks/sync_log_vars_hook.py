"""Log the mean over ranks of every training value, not rank 0's."""
import zlib
from typing import Any, Optional

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS

__all__ = ['SyncLogVarsHook']


def _is_scalar(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return value.numel() == 1
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@HOOKS.register_module()
class SyncLogVarsHook(Hook):
    """Average the values a ``train_step`` returns over all ranks before
    they are logged.

    MMEngine logs what ``train_step`` returns on rank 0, i.e. rank 0's own
    batch. This hook runs first in ``after_train_iter`` (priority
    ``HIGHEST``, before ``RuntimeInfoHook`` records the values) and replaces
    every scalar in ``outputs`` by its mean over ranks, so the logged
    ``loss`` is the loss of the global batch (for equal per-rank batch
    sizes). It costs two small collectives per iteration; it does nothing
    in a single process. If the ranks' keys ever differ, it logs a warning
    and leaves the values untouched.
    """

    priority = 'HIGHEST'

    def __init__(self) -> None:
        self._warned = False

    def after_train_iter(self, runner, batch_idx: int,
                         data_batch: Any = None,
                         outputs: Optional[dict] = None) -> None:
        """Replace each scalar in ``outputs`` by its mean over ranks.

        Args:
            runner (Runner): The runner.
            batch_idx (int): Index of the batch.
            data_batch (Any): The batch. Defaults to None.
            outputs (dict, optional): What ``train_step`` returned.
        """
        world = get_world_size()
        if world == 1 or not outputs:
            return
        keys = sorted(k for k, v in outputs.items() if _is_scalar(v))
        device = next((v.device for v in outputs.values()
                       if isinstance(v, torch.Tensor)), torch.device('cpu'))
        # the same keys on every rank? one collective of 4 integers
        sig = zlib.crc32('\0'.join(keys).encode())
        check = torch.tensor([len(keys), sig, -len(keys), -sig],
                             dtype=torch.int64, device=device)
        all_reduce(check, op='max')
        if check[0] != -check[2] or check[1] != -check[3]:
            if not self._warned:
                print_log('SyncLogVarsHook: the ranks log different keys; '
                          'logging rank-local values', 'current', level=30)
                self._warned = True
            return
        if not keys:
            return
        values = torch.stack([
            torch.as_tensor(outputs[k], device=device).detach().reshape(())
            .to(torch.float64) for k in keys
        ])
        all_reduce(values, op='sum')
        values /= world
        for key, value in zip(keys, values):
            outputs[key] = value
