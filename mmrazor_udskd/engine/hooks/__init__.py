"""Hooks."""
from .channels_last_hook import *  # noqa: F401,F403
from .cpu_malloc_hook import *  # noqa: F401,F403
from .data_sanity_hook import *  # noqa: F401,F403
from .distill_loss_warmup_hook import *  # noqa: F401,F403
from .epoch_seed_hook import *  # noqa: F401,F403
from .loss_weight_schedule_hook import *  # noqa: F401,F403
from .sync_log_vars_hook import *  # noqa: F401,F403
