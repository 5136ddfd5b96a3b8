"""Helpers for the models (not registered)."""
from .activation_checkpoint import (checkpoint_submodules, is_checkpointed,
                                    kept_norm_stats, norm_stats)
from .precision import (PRECISIONS, autocast_dtype, check_precision,
                        default_precision, model_family,
                        native_bf16_available, precision_context,
                        resolve_precision)

__all__ = [
    'checkpoint_submodules', 'is_checkpointed', 'kept_norm_stats',
    'norm_stats', 'PRECISIONS', 'autocast_dtype', 'check_precision',
    'default_precision', 'model_family', 'native_bf16_available',
    'precision_context', 'resolve_precision'
]
