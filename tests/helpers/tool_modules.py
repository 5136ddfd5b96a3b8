"""Import a script of ``tools/`` as a module (the scripts are not a
package; their siblings are found through ``tools/`` on ``sys.path``)."""
import importlib.util
import os.path as osp
import sys
from types import ModuleType

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

__all__ = ['load_tool']


def load_tool(name: str) -> ModuleType:
    """``tools/<name>.py`` as a module (``name`` may hold a subfolder,
    e.g. ``'analysis_tools/benchmark_loader'``)."""
    if osp.join(REPO, 'tools') not in sys.path:
        sys.path.insert(0, osp.join(REPO, 'tools'))
    spec = importlib.util.spec_from_file_location(
        osp.basename(name), osp.join(REPO, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
