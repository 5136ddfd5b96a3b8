"""Distillation algorithms, registered in MMRazor's ``MODELS``."""
from .decoupled_online_distill import *  # noqa: F401,F403
from .multi_student_distill import *  # noqa: F401,F403
