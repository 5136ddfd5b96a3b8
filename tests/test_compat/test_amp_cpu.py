"""Compat patch ``amp_cpu_bf16``: ``AmpOptimWrapper`` (``tools/train.py
--amp``) on a machine without a GPU trains in bfloat16 autocast, without
loss scaling; with the patch off it fails as mmengine does."""
import glob
import os
import os.path as osp
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch

import mmrazor_udskd  # noqa: F401
from mmrazor_udskd import compat

pytestmark = pytest.mark.skipif(
    torch.cuda.is_available(),
    reason='the patch only acts where the device is the CPU')

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

BUILD_CODE = """
import torch, mmrazor_udskd
from mmengine.optim import build_optim_wrapper
net = torch.nn.Linear(3, 2)
wrapper = build_optim_wrapper(net, dict(
    type='AmpOptimWrapper', optimizer=dict(type='SGD', lr=0.1)))
print('BUILT', type(wrapper).__name__, wrapper.cast_dtype)
"""


def run_py(code: str, disable: str = '') -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    env[compat.DISABLE_ENV] = disable
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env=env, timeout=300)


def _amp_wrapper(net: torch.nn.Module, lr: float = 0.5, **kwargs):
    from mmengine.optim import build_optim_wrapper
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # the "emulated bf16" notice
        return build_optim_wrapper(net, dict(
            type='AmpOptimWrapper', optimizer=dict(type='SGD', lr=lr),
            **kwargs))


def test_amp_cpu_breakage_and_fix():
    broken = run_py(BUILD_CODE, disable='amp_cpu_bf16')
    assert broken.returncode != 0
    assert 'AssertionError' in broken.stdout
    assert 'is only available training on gpu' in broken.stdout
    fixed = run_py(BUILD_CODE)
    assert fixed.returncode == 0, fixed.stdout
    assert 'BUILT AmpOptimWrapper torch.bfloat16' in fixed.stdout


def test_amp_cpu_patch_is_applied_and_guarded():
    assert 'amp_cpu_bf16' in compat.applied_patches()
    # the patched __init__ no longer holds mmengine's assertion
    assert compat._amp_cpu_needed() is False


def test_one_step_runs_in_bf16_without_loss_scaling():
    """Forward in bf16 (an intermediate's dtype), loss in fp32, gradients
    not scaled (the step is exactly ``w - lr * grad``), weights updated."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
                              torch.nn.Linear(8, 3))
    wrapper = _amp_wrapper(net, loss_scale='dynamic')
    assert wrapper.loss_scaler.is_enabled() is False
    seen = {}
    net[0].register_forward_hook(
        lambda _m, _i, out: seen.__setitem__('hidden', out.dtype))
    x = torch.randn(5, 4)
    y = torch.tensor([0, 1, 2, 0, 1])
    with wrapper.optim_context(net):
        logits = net(x)
    loss = torch.nn.functional.cross_entropy(logits.float(), y)
    assert seen['hidden'] == torch.bfloat16 and logits.dtype == torch.bfloat16
    assert loss.dtype == torch.float32
    # the reference gradient: the same bf16 forward, plain backward
    ref = [p.detach().clone() for p in net.parameters()]
    with torch.autocast('cpu', dtype=torch.bfloat16):
        ref_logits = net(x)
    grads = torch.autograd.grad(
        torch.nn.functional.cross_entropy(ref_logits.float(), y),
        list(net.parameters()))
    wrapper.update_params(loss)
    for before, grad, after in zip(ref, grads, net.parameters()):
        assert not torch.equal(before, after)
        torch.testing.assert_close(after.detach(), before - 0.5 * grad,
                                   rtol=1e-6, atol=1e-7)
    assert wrapper.state_dict()['loss_scaler'] == {}


@pytest.mark.parametrize('kwargs,match', [
    (dict(dtype='float16'), 'bfloat16 only'),
    (dict(use_fsdp=True), 'needs a GPU'),
])
def test_cpu_amp_refuses_what_it_cannot_do(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _amp_wrapper(torch.nn.Linear(2, 2), **kwargs)


def test_cpu_amp_warns_without_native_bf16():
    from mmrazor_udskd.models.utils.precision import native_bf16_available
    from mmengine.optim import build_optim_wrapper
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        build_optim_wrapper(torch.nn.Linear(2, 2), dict(
            type='AmpOptimWrapper', optimizer=dict(type='SGD', lr=0.1)))
    emulated = [w for w in caught if 'emulated' in str(w.message)]
    assert bool(emulated) == (not native_bf16_available('cpu'))


@pytest.mark.slow
def test_train_cli_amp_on_cpu(tmp_path):
    """``tools/train.py CONFIG --amp`` trains on the CPU (tiny R18, two
    iterations on eight digits) and saves the AMP wrapper's state."""
    work_dir = str(tmp_path / 'amp')
    env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='2')
    proc = subprocess.run(
        [sys.executable, 'tools/train.py',
         'configs/demo/resnet18_1xb64_digits.py', '--amp', '--no-validate',
         '--work-dir', work_dir, '--cfg-options',
         'train_dataloader.dataset.indices=8',
         'train_dataloader.batch_size=4', 'train_cfg.max_epochs=1',
         'model.backbone.base_channels=4', 'model.head.in_channels=32',
         'default_hooks.logger.interval=1',
         'default_hooks.checkpoint.save_optimizer=True'],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert 'Epoch(train) [1][2/2]' in proc.stdout
    dumped = glob.glob(osp.join(work_dir, '*.py'))
    assert dumped and "type='AmpOptimWrapper'" in open(dumped[0]).read()
    state = torch.load(osp.join(work_dir, 'epoch_1.pth'), map_location='cpu')
    assert state['optimizer']['loss_scaler'] == {}  # no loss scaling
