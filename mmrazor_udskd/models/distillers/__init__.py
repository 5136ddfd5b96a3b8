"""Distillers: which loss each model learns from which logits,
registered in MMRazor's ``MODELS``."""
from .multi_student_distiller import *  # noqa: F401,F403
from .dkel_distiller import *  # noqa: F401,F403
