"""mmrazor_udskd: uncertainty-aware dual-student knowledge distillation for
MMRazor (Gore, Dey, Mishra, arXiv 2511.18826), plus CKD (arXiv 2404.14109)
and DKEL (arXiv 2312.11218).

Importing the package applies the compatibility patches first
(:mod:`mmrazor_udskd.compat`), then registers the plugin's modules with
MMRazor's and MMPretrain's registries.
"""
from .compat import apply_all as _apply_compat

_apply_compat()

from . import datasets, engine, models  # noqa: E402,F401
from .version import __version__  # noqa: E402

__all__ = ['__version__', 'datasets', 'engine', 'models']
