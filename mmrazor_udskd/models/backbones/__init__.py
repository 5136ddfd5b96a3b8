"""Backbones adapted to small images, registered in MMPretrain's ``MODELS``."""
from .mobilenet_v2_cifar import *  # noqa: F401,F403
