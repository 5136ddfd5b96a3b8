"""One default optimizer wrapper for any student names and number
(StudentOptimWrapperConstructor), per-student overrides, and the errors that
name the student and the field."""
import functools
import os.path as osp

import mmrazor_udskd  # noqa: F401  isort:skip  (before mmrazor)
import pytest
from mmengine.config import Config
from mmengine.optim import OptimWrapperDict, build_optim_wrapper

from ..helpers.udskd_tiny import build_algorithm

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
NAMES = ['res34', 'shuf', 'mbv2']
UDSKD_CIFAR = ('configs/udskd/'
               'udskd_logits_resnet50_resnet18-mobilenet-v2_1xb64_cifar10.py')


@functools.lru_cache(maxsize=None)
def _parsed_wrapper() -> Config:
    return Config.fromfile(osp.join(REPO, UDSKD_CIFAR)).optim_wrapper


def _base_wrapper() -> dict:
    return _parsed_wrapper().to_dict()


def test_shipped_config_builds_one_wrapper_per_free_student_name():
    model = build_algorithm(NAMES)
    wrappers = build_optim_wrapper(model, _base_wrapper())
    assert isinstance(wrappers, OptimWrapperDict)
    assert list(wrappers.keys()) == NAMES
    for name in NAMES:
        optimizer = wrappers[name].optimizer
        group = optimizer.param_groups[0]
        assert (group['lr'], group['momentum'], group['weight_decay']) == \
            (0.1, 0.9, 1e-4)
        owned = {id(p) for g in optimizer.param_groups for p in g['params']}
        assert owned == {id(p) for p in model.students[name].parameters()}
    # no teacher parameter in any optimizer
    teacher = {id(p) for p in model.teacher.parameters()}
    for name in NAMES:
        assert not teacher & {id(p) for g in wrappers[name].param_groups
                              for p in g['params']}


def test_override_by_name_is_merged_into_the_default():
    model = build_algorithm(NAMES)
    cfg = _base_wrapper()
    cfg['mbv2'] = dict(optimizer=dict(lr=0.05))
    cfg['paramwise_cfg'] = dict(norm_decay_mult=0.0)
    wrappers = build_optim_wrapper(model, cfg)
    mbv2 = wrappers['mbv2'].optimizer
    assert type(mbv2).__name__ == 'SGD'
    assert mbv2.param_groups[0]['lr'] == 0.05
    assert mbv2.param_groups[0]['momentum'] == 0.9  # kept from the default
    assert wrappers['res34'].optimizer.param_groups[0]['lr'] == 0.1
    # the default paramwise_cfg reaches every student: BN weights get no
    # weight decay, conv weights keep it
    for name in NAMES:
        decays = {g['weight_decay'] for g in wrappers[name].param_groups}
        assert decays == {0.0, 1e-4}, name


def test_unknown_student_in_override_is_named():
    model = build_algorithm(NAMES)
    cfg = _base_wrapper()
    cfg['r18'] = dict(optimizer=dict(lr=0.05))
    with pytest.raises(ValueError,
                       match=r"`optim_wrapper\.r18` overrides the optimizer "
                       r"of a student 'r18', but the model has no such "
                       r"student \(students: \['res34', 'shuf', 'mbv2'\]"):
        build_optim_wrapper(model, cfg)


def test_student_without_optimizer_is_named():
    model = build_algorithm(NAMES)
    cfg = dict(constructor='mmrazor.StudentOptimWrapperConstructor',
               res34=dict(optimizer=dict(type='SGD', lr=0.1)),
               mbv2=dict(optimizer=dict(type='SGD', lr=0.1)))
    with pytest.raises(ValueError,
                       match=r"`optim_wrapper\.shuf\.optimizer` is missing: "
                       r"student 'shuf' has no optimizer"):
        build_optim_wrapper(model, cfg)


def test_per_student_only_config_without_default_works():
    model = build_algorithm(['a', 'b'])
    cfg = dict(constructor='mmrazor.StudentOptimWrapperConstructor',
               a=dict(optimizer=dict(type='SGD', lr=0.3)),
               b=dict(type='OptimWrapper',
                      optimizer=dict(type='Adam', lr=1e-3)))
    wrappers = build_optim_wrapper(model, cfg)
    assert wrappers['a'].optimizer.param_groups[0]['lr'] == 0.3
    assert type(wrappers['b'].optimizer).__name__ == 'Adam'


def test_student_named_like_a_wrapper_field_is_refused():
    model = build_algorithm(['dtype', 'b'])
    with pytest.raises(ValueError, match=r"\['dtype'\].*optim_wrapper\.dtype"):
        build_optim_wrapper(model, _base_wrapper())


def test_enable_amp_converts_the_default_and_typed_overrides():
    from mmrazor_udskd.utils.config import enable_amp
    cfg = Config(dict(optim_wrapper=dict(
        constructor='mmrazor.StudentOptimWrapperConstructor',
        type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1),
        a=dict(optimizer=dict(lr=0.2)),
        b=dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1)))))
    enable_amp(cfg)
    ow = cfg.optim_wrapper
    assert ow.type == ow.b.type == 'AmpOptimWrapper'
    assert ow.optimizer.type == 'SGD' and 'type' not in ow.a
