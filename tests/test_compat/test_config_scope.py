"""The ``mmrazor_udskd::`` config scope (compat patches ``config_scope`` and
``fromfile_scope``, the ``mmrazor_udskd.registry`` tree, the ``.mim`` folder
that setup.py ships): used from a directory outside the repository, from a
clone on ``sys.path`` and from a real non-editable ``pip install``."""
import os
import os.path as osp
import shutil
import subprocess
import sys
import textwrap

import pytest

import mmrazor_udskd
from mmrazor_udskd import compat

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
UDSKD_C10 = ('udskd/udskd_logits_resnet50_resnet18-mobilenet-v2_1xb64_'
             'cifar10.py')
DIGITS = 'demo/udskd_logits_resnet50_resnet18-mobilenet-v2_1xb64_digits.py'

# a user's config in a folder of their own that inherits ours by scope
USER_CFG = f"""
_base_ = ['mmrazor_udskd::{UDSKD_C10}']
model = dict(gamma=0.3)
"""


def run_py(code: str, cwd: str, pythonpath: str, disable: str = '',
           timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter in ``cwd`` (not the repo)."""
    env = dict(os.environ, PYTHONWARNINGS='ignore', PYTHONPATH=pythonpath)
    env[compat.DISABLE_ENV] = disable
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)],
                          cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)


def test_scope_points_at_the_imported_package():
    from mmengine.config import config as cfg_mod
    from mmengine.config.utils import MODULE2PACKAGE
    from mmengine.hub import hub as hub_mod
    assert MODULE2PACKAGE['mmrazor_udskd'] == 'mmrazor_udskd'
    pkg_dir = osp.dirname(osp.abspath(mmrazor_udskd.__file__))
    assert cfg_mod.get_installed_path('mmrazor_udskd') == pkg_dir
    assert hub_mod.get_installed_path('mmrazor_udskd') == pkg_dir
    # other packages still go through mmengine's lookup
    assert osp.samefile(cfg_mod.get_installed_path('mmpretrain'),
                        osp.dirname(__import__('mmpretrain').__file__))
    # in the repository, .mim/configs is the configs folder itself
    mim = osp.join(pkg_dir, '.mim')
    assert osp.samefile(osp.join(mim, 'configs', UDSKD_C10),
                        osp.join(REPO_ROOT, 'configs', UDSKD_C10))
    assert osp.samefile(osp.join(mim, 'model-index.yml'),
                        osp.join(REPO_ROOT, 'model-index.yml'))
    assert compat._config_scope_needed() is False


def test_fromfile_with_scope_equals_fromfile_with_path():
    from mmengine.config import Config
    scoped = Config.fromfile(f'mmrazor_udskd::{UDSKD_C10}')
    by_path = Config.fromfile(osp.join(REPO_ROOT, 'configs', UDSKD_C10))
    assert scoped.to_dict() == by_path.to_dict()
    assert scoped.model.gamma == 0.2 and scoped.model.tau == 4.0
    assert scoped.filename.endswith(osp.join('.mim', 'configs', UDSKD_C10))
    # the paths mmengine itself resolves pass through unchanged
    assert Config.fromfile(by_path.filename).to_dict() == by_path.to_dict()
    with pytest.raises(FileNotFoundError):
        Config.fromfile('mmrazor_udskd::udskd/no_such_config.py')


def test_config_scope_breakage_and_fix(tmp_path):
    (tmp_path / 'my_udskd.py').write_text(USER_CFG)
    code = """
    import mmrazor_udskd
    from mmengine.config import Config
    cfg = Config.fromfile('my_udskd.py')
    print('GAMMA', cfg.model.gamma, cfg.model.alpha)
    print('SCOPE', cfg.train_dataloader.dataset._scope_)
    """
    broken = run_py(code, str(tmp_path), REPO_ROOT, disable='config_scope')
    assert broken.returncode != 0
    assert 'does not support to load mmrazor_udskd config' in broken.stdout
    fixed = run_py(code, str(tmp_path), REPO_ROOT)
    assert fixed.returncode == 0, fixed.stdout
    assert 'GAMMA 0.3 0.4' in fixed.stdout  # the user's value over ours
    assert 'SCOPE mmrazor_udskd' in fixed.stdout


def test_fromfile_scope_breakage_and_fix(tmp_path):
    code = f"""
    import mmrazor_udskd
    from mmengine.config import Config
    cfg = Config.fromfile('mmrazor_udskd::{UDSKD_C10}')
    print('TYPE', cfg.model.type, sorted(cfg.model.students))
    """
    broken = run_py(code, str(tmp_path), REPO_ROOT, disable='fromfile_scope')
    assert broken.returncode != 0
    assert 'FileNotFoundError' in broken.stdout
    fixed = run_py(code, str(tmp_path), REPO_ROOT)
    assert fixed.returncode == 0, fixed.stdout
    assert "TYPE MultiStudentDistill ['mbv2', 'r18']" in fixed.stdout


BUILD_CODE = """
import mmrazor_udskd
from mmengine.config import Config
from mmengine.runner import Runner
cfg = Config.fromfile('my_digits.py')
runner = Runner.from_cfg(cfg)
loader = runner.build_dataloader(cfg.train_dataloader)
evaluator = runner.build_evaluator(cfg.val_evaluator)
print('PKG', mmrazor_udskd.__file__)
print('DATA', type(loader.dataset).__name__, len(loader.dataset))
print('PIPE', [type(t).__name__ for t in loader.dataset.pipeline.transforms])
print('HOOKS', sorted(type(h).__name__ for h in runner.hooks))
print('METRIC', type(evaluator.metrics[0]).__name__)
print('MODEL', type(runner.model).__name__, sorted(runner.model.students))
"""
DIGITS_USER_CFG = f"""
_base_ = ['mmrazor_udskd::{DIGITS}']
work_dir = 'work_dir'
model = dict(teacher_ckpt='random')  # a build check: no trained teacher
"""


def _check_built(out: str) -> None:
    # the demo's students see 10 labelled digits per class
    assert 'DATA DigitsDataset 100' in out, out
    assert "PIPE ['RandomCrop', 'PackInputs']" in out
    for hook in ('DataSanityHook', 'EpochSeedHook', 'SyncLogVarsHook',
                 'CPUMallocHook', 'CheckpointHook'):
        assert f"'{hook}'" in out
    assert 'METRIC Accuracy' in out
    assert "MODEL MultiStudentDistill ['mbv2', 'r18']" in out
    # every scoped dict found its class in the mmrazor_udskd registry tree
    assert 'Failed to search registry' not in out


@pytest.mark.slow
def test_scoped_base_builds_from_outside_the_repo(tmp_path):
    (tmp_path / 'my_digits.py').write_text(DIGITS_USER_CFG)
    out = run_py(BUILD_CODE, str(tmp_path), REPO_ROOT)
    assert out.returncode == 0, out.stdout
    _check_built(out.stdout)


def _copy_project(dst: str) -> None:
    """What a wheel is built from: setup.py, README, package, configs."""
    os.makedirs(dst)
    for name in ('setup.py', 'README.md', 'model-index.yml'):
        shutil.copy(osp.join(REPO_ROOT, name), dst)
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc')
    for name in ('mmrazor_udskd', 'configs'):
        shutil.copytree(osp.join(REPO_ROOT, name), osp.join(dst, name),
                        symlinks=True, ignore=ignore)


@pytest.mark.slow
def test_non_editable_install(tmp_path):
    src, target, work = (str(tmp_path / d) for d in ('src', 'site', 'work'))
    _copy_project(src)
    assert osp.islink(osp.join(src, 'mmrazor_udskd', '.mim', 'configs'))
    pip = subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '--no-deps',
         '--no-build-isolation', '--no-compile', '--target', target, src],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=600)
    assert pip.returncode == 0, pip.stdout
    mim = osp.join(target, 'mmrazor_udskd', '.mim')
    # the wheel holds copies, not links into the source tree
    assert osp.isdir(osp.join(mim, 'configs')) and not osp.islink(
        osp.join(mim, 'configs'))
    assert osp.isfile(osp.join(mim, 'configs', UDSKD_C10))
    assert osp.isfile(osp.join(mim, 'configs', '_base_', 'datasets',
                               'tiny_imagenet100_classes.txt'))
    assert osp.isfile(osp.join(mim, 'model-index.yml'))
    shutil.rmtree(src)  # nothing may still point into the source tree
    os.makedirs(work)
    (tmp_path / 'work' / 'my_digits.py').write_text(DIGITS_USER_CFG)
    code = textwrap.dedent(f"""
    import mmrazor_udskd
    from mmengine.config import Config
    cfg = Config.fromfile('mmrazor_udskd::{UDSKD_C10}')
    print('FILE', cfg.filename)
    """) + BUILD_CODE
    out = run_py(code, work, target)
    assert out.returncode == 0, out.stdout
    assert f'PKG {osp.join(target, "mmrazor_udskd", "__init__.py")}' \
        in out.stdout
    assert f'FILE {osp.join(mim, "configs", UDSKD_C10)}' in out.stdout
    _check_built(out.stdout)
