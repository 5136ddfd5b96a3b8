"""Save and restore the random generators a forward draws from, so that a
forward can be replayed with the same dropout masks."""
from typing import Tuple

import torch

__all__ = ['rng_state', 'set_rng_state']


def rng_state(device: torch.device) -> Tuple[torch.Tensor, ...]:
    """The generator states a forward on ``device`` may draw from.

    Args:
        device (torch.device): The inputs' device.

    Returns:
        Tuple[Tensor, ...]: The CPU state and, on CUDA, the device's.
    """
    if device.type == 'cuda':
        return torch.get_rng_state(), torch.cuda.get_rng_state(device)
    return (torch.get_rng_state(), )


def set_rng_state(device: torch.device,
                  state: Tuple[torch.Tensor, ...]) -> None:
    """Restore what :func:`rng_state` returned.

    Args:
        device (torch.device): The inputs' device.
        state (Tuple[Tensor, ...]): The saved states.
    """
    torch.set_rng_state(state[0])
    if device.type == 'cuda':
        torch.cuda.set_rng_state(state[1], device)
