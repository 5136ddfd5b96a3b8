"""Models of the plugin: losses, distillers, algorithms, backbones, layers."""
from .algorithms import *  # noqa: F401,F403
from .backbones import *  # noqa: F401,F403
from .distillers import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
