"""Distillation losses, registered in MMRazor's ``MODELS``."""
from .contrastive_logit_kd import *  # noqa: F401,F403
from .entropy_weighted_kd import *  # noqa: F401,F403
from .functional import *  # noqa: F401,F403
from .peer_kl import *  # noqa: F401,F403
