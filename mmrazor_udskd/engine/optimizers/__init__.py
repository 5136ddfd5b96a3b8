"""Optimizer wrapper constructors."""
from .student_optim_wrapper_constructor import *  # noqa: F401,F403
