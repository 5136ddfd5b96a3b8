"""File backends."""
from .atomic_local_backend import *  # noqa: F401,F403
