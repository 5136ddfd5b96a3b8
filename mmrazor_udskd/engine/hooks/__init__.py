"""Hooks."""
from .ema_teacher_hook import *  # noqa: F401,F403
