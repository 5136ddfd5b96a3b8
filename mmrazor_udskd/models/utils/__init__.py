"""Helpers of the algorithms and loops (not registered): building models,
outputs to predictions, DDP wrappers, speed options, activation
checkpointing, teacher updates, generator replay, the runner's position,
per-model precision."""
from .activation_checkpoint import *  # noqa: F401,F403
from .build import *  # noqa: F401,F403
from .data_samples import *  # noqa: F401,F403
from .rng import *  # noqa: F401,F403
from .runner_state import *  # noqa: F401,F403
from .speed_options import *  # noqa: F401,F403
from .teacher_updates import *  # noqa: F401,F403
from .wrappers import *  # noqa: F401,F403
from .precision import *  # noqa: F401,F403
