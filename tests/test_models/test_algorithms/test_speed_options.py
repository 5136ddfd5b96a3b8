"""The speed options of ``MultiStudentDistill`` (``memory_format``,
``teacher_grad_mode``, ``torch_compile``, AMP) leave the math unchanged, and
one batch is preprocessed once and seen by the teacher once."""
import copy
import warnings
from typing import Dict, List

import mmrazor_udskd  # noqa: F401  isort:skip  (before mmrazor)
import pytest
import torch
from mmengine.config import Config

from mmrazor_udskd.utils import enable_amp

from ...helpers.tiny_dual import (REPO_ROOT, TINY_CLASSES, assert_logs_close,
                                  build_tiny_dual, load_benchmark_tool,
                                  separate_sgd, sharpen_teacher,
                                  student_params, tiny_batch)

UDSKD_IN100 = ('configs/udskd/'
               'udskd_logits_resnet50_resnet18-mobilenet-v2_8xb8_in100.py')


@pytest.fixture(scope='module')
def bench():
    """``tools/benchmark_throughput.py`` as a module."""
    return load_benchmark_tool()


def _real_dual(bench, **options):
    """The paper's in100 dual model (R50 -> R18 + MBv2) and its wrappers."""
    model, wrapper, cfg = bench.build_from_config(
        UDSKD_IN100, torch.device('cpu'), model_options=options)
    sharpen_teacher(model, std=1.0)
    return model, wrapper, cfg


def _step_logs(model, wrapper, data) -> List[Dict[str, float]]:
    """The log dicts of two train steps on one batch."""
    return [model.train_step(copy.deepcopy(data), wrapper) for _ in range(2)]


# ----------------------------------------------------------------------
# channels_last
# ----------------------------------------------------------------------
def test_channels_last_same_losses_real_nets(bench):
    """R50 -> R18 + MBv2 of the in100 config at 32x32, batch 4: the loss
    dict of a train step agrees within 1e-4 in fp32, R18's gradients within
    1e-4 (relative).

    MBv2's gradients are not compared here: at random init many of its
    channels are constant over this tiny batch, so their BatchNorm outputs
    are fp32 rounding noise around 0 and a ReLU6 mask can flip between two
    layouts (seen at ``layer5.1.conv.0``: one element), which changes that
    layer's gradient by ~1e-2 in both directions from the fp64 result. The
    same sensitivity makes later steps drift apart after a large first SGD
    step; the tiny nets below check two steps and the weights."""
    torch.set_num_threads(2)
    ref, ref_wrapper, _ = _real_dual(bench)
    fast, fast_wrapper, _ = _real_dual(bench, memory_format='channels_last')
    fast.load_state_dict(ref.state_dict())
    conv = fast.teacher.backbone.conv1.weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    assert fast.r18.backbone.conv1.weight.is_contiguous(
        memory_format=torch.channels_last)
    assert fast.mbv2.backbone.conv1.conv.weight.is_contiguous(
        memory_format=torch.channels_last)

    data = bench.make_batch(4, 32, 100, seed=3)
    # R18's gradients of sum_i L_i agree to fp32 rounding (see above for
    # why MBv2's are not compared at random init)
    for model in (ref, fast):
        batch = model.data_preprocessor(copy.deepcopy(data), True)
        losses = model.loss(batch['inputs'], batch['data_samples'])
        sum(v for k, v in losses.items() if 'loss' in k).backward()
    grads = [torch.cat([p.grad.flatten() for _, p in
                        student_params(model, ['r18'])])
             for model in (fast, ref)]
    assert (grads[0] - grads[1]).norm() <= 1e-4 * grads[1].norm()
    ref.zero_grad()
    fast.zero_grad()

    ref_logs = ref.train_step(copy.deepcopy(data), ref_wrapper)
    fast_logs = fast.train_step(copy.deepcopy(data), fast_wrapper)
    assert float(ref_logs['r18.loss_teacher']) > 1e-3  # not a trivial term
    assert_logs_close(fast_logs, ref_logs, atol=1e-4, rtol=1e-4)
    # the layout survives the optimizer step
    assert fast.r18.backbone.conv1.weight.is_contiguous(
        memory_format=torch.channels_last)


def test_channels_last_kept_by_init_and_load():
    model = build_tiny_dual(memory_format='channels_last')
    model.init_weights()
    model.load_state_dict(build_tiny_dual(seed=1).state_dict())
    for net in [model.teacher, model.r18, model.mbv2]:
        weight = net.backbone.conv1.weight
        assert weight.is_contiguous(memory_format=torch.channels_last)
    inputs = torch.randn(2, 3, 8, 8)
    assert model._prepare_inputs(inputs).is_contiguous(
        memory_format=torch.channels_last)
    # predictions and the 'tensor' forward take NCHW inputs unchanged
    out = model(inputs, mode='tensor')
    assert out.shape == (2, TINY_CLASSES)
    assert set(model.predict_all(inputs)) == {'r18', 'mbv2', 'ensemble',
                                              'teacher'}


def test_channels_last_tiny_same_losses_and_weights():
    data = tiny_batch(8, 8)
    ref = build_tiny_dual()
    fast = build_tiny_dual(memory_format='channels_last')
    fast.load_state_dict(ref.state_dict())
    ref_w, fast_w = separate_sgd(ref), separate_sgd(fast)
    for a, b in zip(_step_logs(fast, fast_w, data),
                    _step_logs(ref, ref_w, data)):
        assert_logs_close(a, b, atol=1e-5, rtol=1e-5)
    for (name, p_fast), (_, p_ref) in zip(student_params(fast),
                                          student_params(ref)):
        torch.testing.assert_close(p_fast, p_ref, atol=1e-5, rtol=1e-5,
                                   msg=name)


# ----------------------------------------------------------------------
# teacher under inference_mode
# ----------------------------------------------------------------------
def test_teacher_inference_mode_same_losses_and_grads():
    data = tiny_batch(8, 8, seed=2)
    ref = build_tiny_dual(teacher_grad_mode='no_grad')
    inf = build_tiny_dual(teacher_grad_mode='inference_mode')
    inf.load_state_dict(ref.state_dict())

    grads = []
    for model in (ref, inf):
        batch = model.data_preprocessor(copy.deepcopy(data), True)
        losses = model.loss(batch['inputs'], batch['data_samples'])
        assert float(losses['r18.loss_teacher']) > 1e-3
        total = sum(v for k, v in losses.items() if 'loss' in k)
        total.backward()
        grads.append({k: p.grad.clone() for k, p in student_params(model)})
        assert all(p.grad is None for p in model.teacher.parameters())
        model.zero_grad()
    assert grads[0].keys() == grads[1].keys()
    for key in grads[0]:
        torch.testing.assert_close(grads[1][key], grads[0][key], atol=0,
                                   rtol=1e-6, msg=key)

    logs = [_step_logs(m, separate_sgd(m), data) for m in (ref, inf)]
    for a, b in zip(*logs):
        assert_logs_close(a, b, atol=1e-6, rtol=1e-6)


def test_teacher_logits_are_normal_tensors_under_inference_mode():
    model = build_tiny_dual(teacher_grad_mode='inference_mode')
    logits = model.teacher_logits(torch.randn(2, 3, 8, 8))
    assert not logits.is_inference() and not logits.requires_grad


# ----------------------------------------------------------------------
# one preprocess, one teacher forward, one forward per student, no syncs
# ----------------------------------------------------------------------
def test_one_preprocess_one_teacher_forward_one_forward_per_student():
    model = build_tiny_dual()
    wrapper = separate_sgd(model)
    calls = {'preprocess': 0, 'teacher': 0, 'r18': 0, 'mbv2': 0}
    original = model.data_preprocessor.forward

    def counting(*args, **kwargs):
        calls['preprocess'] += 1
        return original(*args, **kwargs)

    model.data_preprocessor.forward = counting
    for name, net in [('teacher', model.teacher), ('r18', model.r18),
                      ('mbv2', model.mbv2)]:
        net.register_forward_hook(
            lambda *_, n=name: calls.__setitem__(n, calls[n] + 1))
    model.train_step(tiny_batch(), wrapper)
    assert calls == {'preprocess': 1, 'teacher': 1, 'r18': 1, 'mbv2': 1}


def test_train_step_has_no_host_syncs(monkeypatch):
    """No ``.item()``/``.tolist()``/``bool(tensor)``/``float(tensor)`` on
    the speed path (``check_finite=False``; the finite check, on by
    default, syncs once for the logits and once per student by design)."""
    model = build_tiny_dual(check_finite=False)
    wrapper = separate_sgd(model)
    data = tiny_batch()
    model.train_step(copy.deepcopy(data), wrapper)  # warm (lazy init)
    syncs: List[str] = []
    in_preprocessor = [False]
    preprocess = model.data_preprocessor.forward

    def flagged(*args, **kwargs):
        # mmengine's stack_batch tests a CPU tensor of image sizes: not a
        # device sync, and once per batch, not per student
        in_preprocessor[0] = True
        try:
            return preprocess(*args, **kwargs)
        finally:
            in_preprocessor[0] = False

    model.data_preprocessor.forward = flagged
    for attr in ('item', 'tolist', '__bool__', '__float__', '__int__',
                 '__index__', 'numpy'):
        original = getattr(torch.Tensor, attr)

        def spy(self, *args, _attr=attr, _original=original, **kwargs):
            if not in_preprocessor[0]:
                syncs.append(_attr)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, attr, spy)
    model.train_step(copy.deepcopy(data), wrapper)
    monkeypatch.undo()
    assert syncs == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_train_step_no_cuda_sync():
    model = build_tiny_dual(check_finite=False).cuda()
    wrapper = separate_sgd(model)
    data = tiny_batch()
    model.train_step(copy.deepcopy(data), wrapper)
    torch.cuda.set_sync_debug_mode('error')
    try:
        # the batch is copied to the GPU by the preprocessor (non-blocking
        # copies are not syncs); the step itself must not sync
        model.train_step(copy.deepcopy(data), wrapper)
    finally:
        torch.cuda.set_sync_debug_mode('default')


# ----------------------------------------------------------------------
# option validation
# ----------------------------------------------------------------------
@pytest.mark.parametrize('kwargs, field', [
    (dict(memory_format='nhwc'), 'model.memory_format'),
    (dict(teacher_grad_mode='enable_grad'), 'model.teacher_grad_mode'),
    (dict(torch_compile='yes'), 'model.torch_compile'),
])
def test_bad_speed_options_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field.replace('.', r'\.')):
        build_tiny_dual(**kwargs)


# ----------------------------------------------------------------------
# AMP
# ----------------------------------------------------------------------
def test_enable_amp_converts_every_student_wrapper():
    cfg = Config.fromfile(f'{REPO_ROOT}/{UDSKD_IN100}')
    enable_amp(cfg)
    wrappers = cfg.optim_wrapper
    # the students' default wrapper, which every student gets
    assert wrappers.constructor == 'mmrazor.StudentOptimWrapperConstructor'
    assert wrappers.type == 'AmpOptimWrapper'
    assert wrappers.loss_scale == 'dynamic'


@pytest.mark.skipif(torch.cuda.is_available(),
                    reason='mmengine autocasts on the GPU when one exists')
@pytest.mark.skipif(not torch.amp.is_autocast_available('cpu'),
                    reason='no CPU autocast in this torch build')
def test_dual_trains_under_amp_optim_wrapper_bf16_cpu(bench):
    from mmengine.optim import AmpOptimWrapper
    data = tiny_batch(8, 8, seed=4)
    ref = build_tiny_dual()
    amp = build_tiny_dual()
    amp.load_state_dict(ref.state_dict())
    with bench._cpu_amp_allowed(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        amp_wrapper = separate_sgd(amp, 'AmpOptimWrapper',
                                   dtype='bfloat16')
    assert all(isinstance(w, AmpOptimWrapper)
               for w in amp_wrapper.values())
    dtypes = {}
    for name in ('teacher', 'r18', 'mbv2'):
        getattr(amp, name).head.fc.register_forward_hook(
            lambda _m, _i, out, n=name: dtypes.__setitem__(n, out.dtype))
    before = [p.detach().clone() for _, p in student_params(amp)]
    amp_logs = amp.train_step(copy.deepcopy(data), amp_wrapper)
    ref_logs = ref.train_step(copy.deepcopy(data), separate_sgd(ref))
    # teacher and students ran under bf16 autocast, losses are fp32
    assert dtypes == dict(teacher=torch.bfloat16, r18=torch.bfloat16,
                          mbv2=torch.bfloat16)
    assert all(torch.isfinite(v) and v.dtype == torch.float32
               for v in amp_logs.values())
    # the same losses within bf16 tolerance (8 mantissa bits)
    assert_logs_close(amp_logs, ref_logs, atol=2e-2, rtol=3e-2)
    assert all(not torch.equal(b, p) for b, (_, p) in
               zip(before, student_params(amp)) if p.dim() > 1)


# ----------------------------------------------------------------------
# torch.compile
# ----------------------------------------------------------------------
def _dynamo_backend_unavailable() -> str:
    """Why ``torch.compile`` cannot run here ('' if it can)."""
    try:
        import torch._dynamo as dynamo
        from torch._dynamo.testing import CompileCounter  # noqa: F401
    except ImportError as err:
        return f'no torch._dynamo in this torch build: {err}'
    if not dynamo.is_dynamo_supported():
        return 'torch.compile (dynamo) unsupported on this platform'
    return ''


@pytest.mark.skipif(bool(_dynamo_backend_unavailable()),
                    reason=_dynamo_backend_unavailable() or 'available')
def test_torch_compile_is_wired():
    """Every forward goes through dynamo (a counting backend sees the
    teacher's and both students' graphs) with the losses of the plain
    model; any failure of the compiled step fails the test."""
    from torch._dynamo.testing import CompileCounter
    torch._dynamo.reset()
    counter = CompileCounter()  # runs the captured graphs eagerly
    plain = build_tiny_dual()
    model = build_tiny_dual(torch_compile=dict(backend=counter))
    model.load_state_dict(plain.state_dict())
    assert model.compile_kwargs == dict(backend=counter)
    for net in [model.teacher, model.r18, model.mbv2]:
        assert net._compiled_call_impl is not None
    # parameter / checkpoint names are unchanged
    assert list(model.state_dict()) == list(plain.state_dict())
    data = tiny_batch(4, 8, seed=5)
    logs = model.train_step(copy.deepcopy(data), separate_sgd(model))
    # one graph (or more, at graph breaks) per network: teacher, r18, mbv2
    assert counter.frame_count >= 3, counter.frame_count
    assert counter.op_count > 0
    assert_logs_close(logs, plain.train_step(copy.deepcopy(data),
                                             separate_sgd(plain)),
                      atol=1e-5, rtol=1e-5)
    assert build_tiny_dual().compile_kwargs is None
    torch._dynamo.reset()
