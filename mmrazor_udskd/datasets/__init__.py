"""Datasets, registered in MMPretrain's ``DATASETS``."""
from .digits import *  # noqa: F401,F403
