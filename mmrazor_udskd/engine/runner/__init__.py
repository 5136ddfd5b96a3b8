"""Loops."""
from .multi_model_val_loop import *  # noqa: F401,F403
