"""Distillation algorithms, registered in MMRazor's ``MODELS``."""
from .checked_single_teacher_distill import *  # noqa: F401,F403
from .decoupled_online_distill import *  # noqa: F401,F403
from .multi_student_distill import *  # noqa: F401,F403
