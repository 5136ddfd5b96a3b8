"""Engine parts: the multi-model validation loop, hooks, file backends."""
from .fileio import *  # noqa: F401,F403
from .hooks import *  # noqa: F401,F403
from .runner import *  # noqa: F401,F403
