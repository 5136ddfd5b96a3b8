"""Datasets, registered in MMPretrain's ``DATASETS``."""
from .digits import *  # noqa: F401,F403
from .safe_load_image import *  # noqa: F401,F403
from .in_memory import *  # noqa: F401,F403
