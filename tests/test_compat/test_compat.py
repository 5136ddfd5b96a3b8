"""Each compat patch: the breakage without it (patch disabled through
``MMRAZOR_UDSKD_DISABLE_PATCHES`` in a fresh interpreter) and the fix with
it, plus the guard that leaves a fixed stack untouched."""
import os
import socket
import subprocess
import sys
import textwrap

import pytest
import torch

import mmrazor_udskd  # noqa: F401
from mmrazor_udskd import compat


def run_py(code: str, disable: str = '', env: dict = None,
           timeout: int = 300) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, PYTHONWARNINGS='ignore')
    full_env[compat.DISABLE_ENV] = disable
    if env:
        full_env.update(env)
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env=full_env, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_all_patches_applied_on_this_stack():
    # torch 2.14 / mmrazor 1.0.0 / mmengine 0.10.7 on CPU: every breakage is
    # present, so every patch must have run (in order, once).
    expected = [p.name for p in compat.PATCHES]
    if torch.cuda.is_available():
        expected.remove('init_dist_cpu')
        expected.remove('ddp_cpu_device_ids')
        expected.remove('amp_cpu_bf16')
    assert compat.applied_patches() == expected
    again = compat.apply_all()
    assert all(again[name] for name in expected)
    assert compat.applied_patches() == expected  # not applied twice


def test_every_patch_has_a_reason():
    for patch in compat.PATCHES:
        assert len(patch.reason) > 30, patch.name
        assert patch.name.isidentifier()


# 1 ----------------------------------------------------------------------
@pytest.mark.slow
def test_quant_backend_config_breakage_and_fix():
    code = """
    import mmrazor_udskd
    import mmrazor.models
    print('IMPORTED')
    """
    broken = run_py(code, disable='quant_backend_config')
    assert broken.returncode != 0
    assert 'torch>=1.13` is not installed properly' in broken.stdout
    fixed = run_py(code)
    assert fixed.returncode == 0, fixed.stdout
    assert 'IMPORTED' in fixed.stdout


def test_quant_backend_stub_is_explicit():
    from mmrazor.structures.quantization import (BackendConfigs,
                                                 get_native_backend_config)
    assert set(BackendConfigs) == {'academic', 'native', 'tensorrt',
                                   'openvino'}
    assert all(v is None for v in BackendConfigs.values())
    with pytest.raises(RuntimeError, match='quantization'):
        get_native_backend_config()
    # guard: the module is importable now, so the patch is not needed again
    assert compat._quant_backend_needed() is False


def test_mmrazor_distill_modules_import():
    from mmrazor.engine import (SeparateOptimWrapperConstructor,
                                SingleTeacherDistillValLoop)
    from mmrazor.models import KLDivergence, SingleTeacherDistill
    assert SingleTeacherDistill and KLDivergence
    assert SeparateOptimWrapperConstructor and SingleTeacherDistillValLoop


# 2 ----------------------------------------------------------------------
@pytest.mark.slow
def test_kd_soft_ce_breakage_and_fix():
    code = """
    import torch, mmrazor_udskd
    from mmrazor.registry import MODELS
    loss = MODELS.build(dict(type='KDSoftCELoss', tau=2.0))
    s = torch.tensor([[1.0, 2.0, 0.5]]); t = torch.tensor([[0.5, 1.5, 1.0]])
    print('VALUE', float(loss(s, t)))
    """
    broken = run_py(code, disable='kd_soft_ce')
    assert broken.returncode != 0
    assert 'PlaceHolder' in broken.stdout
    fixed = run_py(code)
    assert fixed.returncode == 0, fixed.stdout
    value = float(fixed.stdout.split('VALUE')[1])
    # by hand: tau^2 * soft CE between softmax(t/tau) and log_softmax(s/tau)
    s = torch.tensor([1.0, 2.0, 0.5]) / 2
    t = torch.tensor([0.5, 1.5, 1.0]) / 2
    expected = 4.0 * float(-(t.softmax(0) * s.log_softmax(0)).sum())
    assert value == pytest.approx(expected, rel=1e-5)
    assert compat._kd_soft_ce_needed() is False


# 3 ----------------------------------------------------------------------
WEIGHTS_ONLY_CODE = """
import numpy as np, torch, mmrazor_udskd
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader
ckpt = {'state_dict': {'w': torch.ones(2)},
        'message_hub': {'log_scalars': {'loss': HistoryBuffer([1.0], [1])},
                        'runtime_info': {'np': np.float64(2.5),
                                         'arr': np.arange(3)}},
        'meta': {'dtype': np.dtype('float32'), 'epoch': 1}}
torch.save(ckpt, {path!r})
out = CheckpointLoader.load_checkpoint({path!r}, map_location='cpu')
assert float(out['message_hub']['runtime_info']['np']) == 2.5
assert out['message_hub']['log_scalars']['loss'].current() == 1.0
print('LOADED')
"""


@pytest.mark.slow
def test_weights_only_breakage_and_fix(tmp_path):
    code = WEIGHTS_ONLY_CODE.replace('{path!r}', repr(str(tmp_path / 'c.pth')))
    broken = run_py(code, disable='weights_only_allowlist')
    assert broken.returncode != 0
    assert 'Unsupported global' in broken.stdout
    fixed = run_py(code)
    assert fixed.returncode == 0, fixed.stdout
    assert 'LOADED' in fixed.stdout


class _Hostile:
    """A pickle that would run code when loaded."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def test_weights_only_still_refuses_code(tmp_path):
    from mmengine.runner.checkpoint import CheckpointLoader
    marker = tmp_path / 'pwned'
    path = tmp_path / 'hostile.pth'
    torch.save({'state_dict': {}, 'x': _Hostile(str(marker))}, path)
    with pytest.raises(Exception, match='Weights only load failed'):
        CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert not marker.exists()


# 4 ----------------------------------------------------------------------
INIT_DIST_CODE = """
import torch, mmrazor_udskd
from mmengine.dist import init_dist, get_world_size
init_dist('pytorch', backend='nccl')
print('WORLD', get_world_size(), torch.distributed.get_backend())
"""


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a CPU-only box')
@pytest.mark.slow
def test_init_dist_cpu_breakage_and_fix():
    env = dict(RANK='0', WORLD_SIZE='1', LOCAL_RANK='0',
               MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()))
    broken = run_py(INIT_DIST_CODE, disable='init_dist_cpu', env=env)
    assert broken.returncode != 0
    assert 'NVIDIA driver' in broken.stdout or 'CUDA' in broken.stdout
    env['MASTER_PORT'] = str(free_port())
    fixed = run_py(INIT_DIST_CODE, env=env)
    assert fixed.returncode == 0, fixed.stdout
    assert 'WORLD 1 gloo' in fixed.stdout


def test_init_dist_guard_passes_gpu_machines(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    assert compat._init_dist_needed() is False
    assert compat._ddp_needed() is False


# 5 ----------------------------------------------------------------------
DDP_CODE = """
import torch, mmrazor_udskd
import torch.distributed as dist
from mmengine.model import MMDistributedDataParallel
dist.init_process_group('gloo', rank=0, world_size=1)
model = MMDistributedDataParallel(torch.nn.Linear(2, 2), device_ids=[0])
print('WRAPPED', model.device_ids)
"""


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a CPU-only box')
@pytest.mark.slow
def test_ddp_cpu_device_ids_breakage_and_fix():
    env = dict(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()))
    broken = run_py(DDP_CODE, disable='ddp_cpu_device_ids', env=env)
    assert broken.returncode != 0
    assert 'device_ids' in broken.stdout
    env['MASTER_PORT'] = str(free_port())
    fixed = run_py(DDP_CODE, env=env)
    assert fixed.returncode == 0, fixed.stdout
    assert 'WRAPPED None' in fixed.stdout


# 6 ----------------------------------------------------------------------
HTTP_CODE = """
import functools, http.server, threading, torch, mmrazor_udskd
from mmengine.runner.checkpoint import CheckpointLoader
handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                            directory={folder!r})
server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = 'http://127.0.0.1:%d/hostile.pth' % server.server_address[1]
try:
    CheckpointLoader.load_checkpoint(url, map_location='cpu',
                                     )
    print('LOADED')
except Exception as exc:
    print('REFUSED', type(exc).__name__, str(exc)[:200])
server.shutdown()
"""


@pytest.mark.slow
def test_http_weights_only_breakage_and_fix(tmp_path):
    marker = tmp_path / 'pwned'
    torch.save({'state_dict': {}, 'x': _Hostile(str(marker))},
               tmp_path / 'hostile.pth')
    code = HTTP_CODE.replace('{folder!r}', repr(str(tmp_path)))
    env = dict(TORCH_HOME=str(tmp_path / 'hub1'))
    broken = run_py(code, disable='http_weights_only', env=env)
    assert marker.exists(), broken.stdout  # the pickle ran its code
    marker.unlink()
    env = dict(TORCH_HOME=str(tmp_path / 'hub2'))
    fixed = run_py(code, env=env)
    assert 'REFUSED' in fixed.stdout, fixed.stdout
    assert 'Weights only load failed' in fixed.stdout
    assert not marker.exists()
    assert compat._http_weights_only_needed() is False
