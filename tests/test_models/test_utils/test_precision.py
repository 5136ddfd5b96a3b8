"""Precision per model: the pure helpers of ``models/utils/precision.py``,
``MultiStudentDistill(teacher_precision=...)``, per-student AMP through the
students' optimizer wrappers, the config helpers and ``tools/train.py``
options, and losses computed in fp32."""
import copy
import importlib.util
import os.path as osp
import warnings

import mmrazor_udskd  # noqa: F401  isort:skip  (before mmrazor)
import pytest
import torch
from mmengine.config import Config

from mmrazor_udskd.models.utils import precision as prec
from mmrazor_udskd.utils import (apply_precision_policy, enable_amp,
                                 set_teacher_precision)

from ...helpers.tiny_dual import (REPO_ROOT, assert_logs_close,
                                  build_tiny_dual, separate_sgd,
                                  student_params, tiny_batch)

UDSKD_CIFAR = ('configs/udskd/'
               'udskd_logits_resnet50_resnet18-mobilenet-v2_1xb64_cifar10.py')
KD_CIFAR = 'configs/kd/kd_logits_resnet50_mobilenet-v2_1xb64_cifar10.py'


def _native(monkeypatch, value: bool) -> None:
    monkeypatch.setattr(prec, 'native_bf16_available', lambda _d: value)


# ----------------------------------------------------------------------
# pure helpers
# ----------------------------------------------------------------------
def test_check_precision_names_the_field():
    for name in prec.PRECISIONS:
        assert prec.check_precision(name, 'x') == name
    for bad in ('bfloat16', 'FP32', None, 16):
        with pytest.raises(ValueError, match=r'`model\.teacher_precision`'):
            prec.check_precision(bad, 'model.teacher_precision')


def test_native_bf16_follows_torch_cpu_probes():
    expected = any(getattr(torch.cpu, probe, lambda: False)() for probe in
                   ('_is_amx_tile_supported', '_is_avx512_bf16_supported'))
    assert prec.native_bf16_available('cpu') is expected
    assert prec.native_bf16_available('mps') is False


@pytest.mark.parametrize('model,family', [
    (dict(backbone=dict(type='ResNet_CIFAR', depth=18)), 'resnet'),
    (dict(backbone=dict(type='mmpretrain.ResNet', depth=50)), 'resnet'),
    (dict(backbone=dict(type='MobileNetV2_CIFAR')), 'mobilenet_v2'),
    (dict(backbone=dict(type='MobileNetV2')), 'mobilenet_v2'),
    (dict(backbone=dict(type='VisionTransformer')), 'other'),
    (dict(cfg_path='mmpretrain::resnet/resnet18_8xb32_in1k.py'), 'other'),
    (None, 'other'),
])
def test_model_family(model, family):
    assert prec.model_family(model) == family


def test_model_family_of_built_nets():
    from mmpretrain.models.backbones import ResNet_CIFAR
    from mmrazor_udskd.models.backbones import MobileNetV2_CIFAR
    assert prec.model_family(ResNet_CIFAR(depth=18)) == 'resnet'
    net = torch.nn.Module()
    net.backbone = MobileNetV2_CIFAR(widen_factor=0.5)
    assert prec.model_family(net) == 'mobilenet_v2'


@pytest.mark.parametrize('native,teacher,resnet,mbv2,other', [
    (True, 'bf16', 'bf16', 'fp32', 'fp32'),
    (False, 'fp32', 'fp32', 'fp32', 'fp32'),
])
def test_default_policy(monkeypatch, native, teacher, resnet, mbv2, other):
    _native(monkeypatch, native)
    for device in ('cpu', 'cuda'):
        assert prec.default_precision('teacher', device) == teacher
        assert prec.default_precision('student', device, 'resnet') == resnet
        assert prec.default_precision('student', device,
                                      'mobilenet_v2') == mbv2
        assert prec.default_precision('student', device, 'other') == other
        # explicit choices pass through, 'auto' is the policy
        assert prec.resolve_precision('bf16', device, 'student',
                                      'mobilenet_v2') == 'bf16'
        assert prec.resolve_precision('auto', device, 'student',
                                      'resnet') == resnet


def test_precision_context_sets_the_forward_dtype(monkeypatch):
    lin = torch.nn.Linear(4, 4)
    x = torch.randn(2, 4)
    with prec.precision_context('bf16', 'cpu'):
        assert lin(x).dtype == torch.bfloat16
    # fp32 switches an enclosing autocast off
    with torch.autocast('cpu', dtype=torch.bfloat16), \
            prec.precision_context('fp32', 'cpu'):
        assert lin(x).dtype == torch.float32
    for native, dtype in ((True, torch.bfloat16), (False, torch.float32)):
        _native(monkeypatch, native)
        with prec.precision_context('auto', 'cpu'):
            assert lin(x).dtype == dtype
    with pytest.raises(ValueError, match='needs a CUDA device'):
        prec.precision_context('fp16', 'cpu')
    assert prec.autocast_dtype('fp32') is None
    assert prec.autocast_dtype('fp16') is torch.float16


# ----------------------------------------------------------------------
# MultiStudentDistill: teacher and students each in their own precision
# ----------------------------------------------------------------------
def _head_dtypes(model) -> dict:
    seen = {}
    for name in ('teacher', 'r18', 'mbv2'):
        getattr(model, name).head.fc.register_forward_hook(
            lambda _m, _i, out, n=name: seen.__setitem__(n, out.dtype))
    return seen


def _loss_input_dtypes(model) -> list:
    seen = []
    for loss in (model.teacher_loss, model.peer_loss):
        loss.register_forward_pre_hook(
            lambda _m, args: seen.extend(
                t.dtype for a in args
                for t in (a if isinstance(a, list) else [a])))
    return seen


def _amp_wrappers(model, names=('r18', 'mbv2')):
    from mmengine.optim import build_optim_wrapper
    optimizer = dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4)
    cfg = dict(constructor='mmrazor.SeparateOptimWrapperConstructor')
    for name in model.student_names:
        kind = 'AmpOptimWrapper' if name in names else 'OptimWrapper'
        cfg[name] = dict(type=kind, optimizer=optimizer)
        if name in names:
            cfg[name]['dtype'] = 'bfloat16'
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return build_optim_wrapper(model, cfg)


def test_teacher_precision_is_validated():
    with pytest.raises(ValueError, match=r'model\.teacher_precision'):
        build_tiny_dual(teacher_precision='half')
    assert build_tiny_dual().teacher_precision is None


@pytest.mark.skipif(torch.cuda.is_available(),
                    reason='CPU autocast (bf16) is what is checked')
@pytest.mark.parametrize('teacher_precision,amp_students,expected', [
    # bf16 teacher, fp32 students (plain wrappers)
    ('bf16', (), dict(teacher=torch.bfloat16, r18=torch.float32,
                      mbv2=torch.float32)),
    # fp32 teacher although every student's wrapper autocasts
    ('fp32', ('r18', 'mbv2'), dict(teacher=torch.float32,
                                   r18=torch.bfloat16, mbv2=torch.bfloat16)),
    # per student: R18 in bf16, MBv2 in fp32
    ('fp32', ('r18', ), dict(teacher=torch.float32, r18=torch.bfloat16,
                             mbv2=torch.float32)),
    # default: the teacher follows the first student's (r18's) wrapper
    (None, ('r18', ), dict(teacher=torch.bfloat16, r18=torch.bfloat16,
                           mbv2=torch.float32)),
])
@pytest.mark.parametrize('peer_mode', ['parallel', 'sequential'])
def test_each_model_runs_in_its_precision(teacher_precision, amp_students,
                                          expected, peer_mode):
    model = build_tiny_dual(teacher_precision=teacher_precision,
                            peer_mode=peer_mode)
    wrappers = _amp_wrappers(model, amp_students)
    heads = _head_dtypes(model)
    loss_inputs = _loss_input_dtypes(model)
    before = [p.detach().clone() for _, p in student_params(model)]
    logs = model.train_step(tiny_batch(8, 8, seed=4), wrappers)
    assert heads == expected
    # every loss term is computed from fp32 logits, and is fp32
    assert loss_inputs and set(loss_inputs) == {torch.float32}
    assert all(v.dtype == torch.float32 and torch.isfinite(v)
               for v in logs.values())
    assert all(not torch.equal(b, p) for b, (_, p) in
               zip(before, student_params(model)) if p.dim() > 1)


@pytest.mark.skipif(torch.cuda.is_available(),
                    reason='CPU autocast (bf16) is what is checked')
def test_bf16_step_matches_fp32_within_tolerance():
    """Equal results: one dual step with every model forced to bf16
    (teacher_precision='bf16', both students' wrappers bf16) gives the fp32
    step's losses within 5e-3 + 0.5 % (bf16 keeps 8 mantissa bits, ~0.4 %
    per rounding; measured here: at most 7.3e-4, 0.04 %, on the summed
    loss) and the updated weights within 1e-3 (measured: 2.4e-5)."""
    data = tiny_batch(8, 8, seed=4)
    ref = build_tiny_dual()
    low = build_tiny_dual(teacher_precision='bf16')
    low.load_state_dict(ref.state_dict())
    ref_logs = ref.train_step(copy.deepcopy(data), separate_sgd(ref))
    low_logs = low.train_step(copy.deepcopy(data), _amp_wrappers(low))
    assert_logs_close(low_logs, ref_logs, atol=5e-3, rtol=5e-3)
    # the loss values are not identical: bf16 really ran
    assert any(float(low_logs[k]) != float(ref_logs[k]) for k in ref_logs)
    for (_, a), (_, b) in zip(student_params(low), student_params(ref)):
        assert (a - b).abs().max() <= 1e-3


# ----------------------------------------------------------------------
# config helpers and tools/train.py
# ----------------------------------------------------------------------
def _wrappers(cfg) -> dict:
    """Each student's optimizer wrapper config as the config's
    StudentOptimWrapperConstructor builds it (default + override)."""
    from mmrazor_udskd.engine.optimizers import \
        StudentOptimWrapperConstructor
    wrapper = dict(cfg.optim_wrapper.to_dict())
    assert 'StudentOptimWrapperConstructor' in wrapper.pop('constructor')
    return StudentOptimWrapperConstructor(
        wrapper, wrapper.pop('paramwise_cfg', None)).student_cfgs(
            list(cfg.model.students))


def test_enable_amp_for_some_students():
    cfg = Config.fromfile(osp.join(REPO_ROOT, UDSKD_CIFAR))
    enable_amp(cfg, ['r18'], dtype='bfloat16')
    built = _wrappers(cfg)
    assert built['r18']['type'] == 'AmpOptimWrapper'
    assert built['r18']['dtype'] == 'bfloat16'
    assert built['r18']['optimizer'] == built['mbv2']['optimizer']  # SGD
    assert built['mbv2']['type'] == 'OptimWrapper'
    with pytest.raises(KeyError, match='res50'):
        enable_amp(cfg, ['res50'])
    single = Config.fromfile(osp.join(REPO_ROOT, KD_CIFAR))
    with pytest.raises(ValueError, match='one optimizer wrapper per'):
        enable_amp(single, ['r18'])


@pytest.mark.parametrize('native', [True, False])
def test_apply_precision_policy(monkeypatch, native):
    _native(monkeypatch, native)
    cfg = Config.fromfile(osp.join(REPO_ROOT, UDSKD_CIFAR))
    chosen = apply_precision_policy(cfg, 'cpu')
    low = 'bf16' if native else 'fp32'
    assert chosen == dict(teacher=low, r18=low, mbv2='fp32')
    assert cfg.model.teacher_precision == low
    built = _wrappers(cfg)
    assert built['r18']['type'] == ('AmpOptimWrapper' if native
                                    else 'OptimWrapper')
    assert built['mbv2']['type'] == 'OptimWrapper'
    # a single-student KD config: its MBv2 student keeps fp32
    kd = Config.fromfile(osp.join(REPO_ROOT, KD_CIFAR))
    assert apply_precision_policy(kd, 'cpu') == dict(model='fp32')
    assert kd.optim_wrapper.get('type', 'OptimWrapper') == 'OptimWrapper'


def _train_tool():
    path = osp.join(REPO_ROOT, 'tools', 'train.py')
    spec = importlib.util.spec_from_file_location('train_tool', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_options_pick_precision_per_model():
    tool = _train_tool()
    args = tool.parse_args([UDSKD_CIFAR, '--amp-students', 'mbv2',
                            '--teacher-precision', 'bf16'])
    cfg = tool.merge_args(Config.fromfile(osp.join(REPO_ROOT, UDSKD_CIFAR)),
                          args)
    assert cfg.model.teacher_precision == 'bf16'
    built = _wrappers(cfg)
    assert built['mbv2']['type'] == 'AmpOptimWrapper'
    assert built['r18']['type'] == 'OptimWrapper'
    # --amp keeps meaning every student
    args = tool.parse_args([UDSKD_CIFAR, '--amp'])
    cfg = tool.merge_args(Config.fromfile(osp.join(REPO_ROOT, UDSKD_CIFAR)),
                          args)
    assert {w['type'] for w in _wrappers(cfg).values()} == {
        'AmpOptimWrapper'}
    assert 'teacher_precision' not in cfg.model
    with pytest.raises(SystemExit):
        tool.parse_args([UDSKD_CIFAR, '--amp', '--precision-policy'])
    with pytest.raises(ValueError, match='MultiStudentDistill'):
        set_teacher_precision(Config.fromfile(osp.join(REPO_ROOT, KD_CIFAR)),
                              'bf16')
