"""Build the models an algorithm holds from their configs."""
from typing import Union

from mmrazor.registry import MODELS
from torch import nn

__all__ = ['build_model']


def build_model(cfg: Union[dict, nn.Module], what: str) -> nn.Module:
    """Build a model from a config (MMRazor's ``MODELS``, which falls back
    to MMPretrain's), or pass a built one through.

    Args:
        cfg (dict | nn.Module): Model config or model.
        what (str): Its config field, for the error message.

    Returns:
        nn.Module: The model.

    Raises:
        TypeError: If ``cfg`` is neither a dict nor a module.
    """
    if isinstance(cfg, dict):
        cfg = MODELS.build(cfg)
    if not isinstance(cfg, nn.Module):
        raise TypeError(f'`{what}` must be a config dict or an nn.Module, '
                        f'got {type(cfg).__name__}')
    return cfg
