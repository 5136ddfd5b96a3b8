"""Helpers for the models (not registered)."""
from .activation_checkpoint import (checkpoint_submodules, is_checkpointed,
                                    kept_norm_stats, norm_stats)

__all__ = [
    'checkpoint_submodules', 'is_checkpointed', 'kept_norm_stats',
    'norm_stats'
]
