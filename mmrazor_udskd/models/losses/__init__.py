"""Distillation losses, registered in MMRazor's ``MODELS``, and the pure
functions and schedules they are built on."""
from .ckd_functional import *  # noqa: F401,F403
from .contrastive_logit_kd import *  # noqa: F401,F403
from .dkel_functional import *  # noqa: F401,F403
from .entropy_weighted_kd import *  # noqa: F401,F403
from .functional import *  # noqa: F401,F403
from .peer_kl import *  # noqa: F401,F403
from .schedules import *  # noqa: F401,F403
