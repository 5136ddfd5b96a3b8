"""A distillation teacher must get trained weights: a checkpoint
(``model.teacher_ckpt``) or a pretrained ``init_cfg``; ``'random'`` is the
explicit opt-in for tests and smoke runs. For UDSKD's MultiStudentDistill and
for the KD/CKD configs' CheckedSingleTeacherDistill."""
import copy
import os.path as osp

import mmrazor_udskd  # noqa: F401  isort:skip  (before mmrazor)
import pytest
import torch
from mmengine.config import Config
from mmrazor.registry import MODELS

from ...helpers.udskd_tiny import algorithm_cfg, tiny_classifier

from ...conftest import REPO_ROOT as REPO
KD = 'configs/kd/kd_logits_resnet50_resnet18_1xb64_cifar10.py'
UDSKD = 'configs/udskd/udskd_logits_resnet50_resnet18-mobilenet-v2_1xb64_cifar10.py'  # noqa: E501
MESSAGE = (r"`model\.teacher_ckpt` is not set and the teacher config loads no "
           r"pretrained weights .* or set model\.teacher_ckpt='random' to use "
           r'a random teacher on purpose')


def _tiny_kd_cfg(**kwargs) -> dict:
    """The shipped KD config's algorithm over tiny nets."""
    model = Config.fromfile(osp.join(REPO, KD)).model.to_dict()
    model.update(architecture=tiny_classifier(4), teacher=tiny_classifier(8))
    model.pop('teacher_ckpt')
    model.update(kwargs)
    return model


def _saved_teacher(tmp_path) -> tuple:
    torch.manual_seed(3)
    teacher = MODELS.build(tiny_classifier(8))
    teacher.init_weights()
    path = str(tmp_path / 'teacher.pth')
    torch.save({'state_dict': teacher.state_dict()}, path)
    return teacher.state_dict(), path


def test_udskd_without_teacher_checkpoint_stops():
    cfg = algorithm_cfg()
    cfg.pop('teacher_ckpt')
    with pytest.raises(ValueError, match=MESSAGE):
        MODELS.build(cfg)
    with pytest.raises(ValueError, match=MESSAGE):
        MODELS.build(algorithm_cfg(teacher_ckpt=None))
    with pytest.raises(ValueError, match=MESSAGE):
        MODELS.build(algorithm_cfg(teacher_ckpt=''))


def test_random_opt_in_and_a_checkpoint_both_build(tmp_path):
    state, path = _saved_teacher(tmp_path)
    torch.manual_seed(0)
    random = MODELS.build(algorithm_cfg(teacher_ckpt='random'))
    random.init_weights()
    loaded = MODELS.build(algorithm_cfg(teacher_ckpt=path))
    loaded.init_weights()
    key = 'head.fc.weight'
    assert torch.equal(loaded.teacher.state_dict()[key], state[key])
    assert not torch.equal(random.teacher.state_dict()[key], state[key])


def test_pretrained_init_cfg_counts_as_a_trained_teacher(tmp_path):
    state, path = _saved_teacher(tmp_path)
    teacher = tiny_classifier(8)
    teacher['init_cfg'] = dict(type='Pretrained', checkpoint=path)
    model = MODELS.build(algorithm_cfg(teacher=teacher, teacher_ckpt=None))
    model.init_weights()
    for key, value in state.items():
        assert torch.equal(model.teacher.state_dict()[key], value), key
    # a backbone-only pretrained init_cfg counts too
    teacher = tiny_classifier(8)
    teacher['backbone']['init_cfg'] = dict(type='Pretrained', checkpoint=path,
                                           prefix='backbone.')
    MODELS.build(algorithm_cfg(teacher=teacher, teacher_ckpt=None))
    # an init_cfg that is not a checkpoint does not
    teacher = tiny_classifier(8)
    teacher['init_cfg'] = dict(type='Kaiming', layer='Conv2d')
    with pytest.raises(ValueError, match=MESSAGE):
        MODELS.build(algorithm_cfg(teacher=teacher, teacher_ckpt=None))


def test_kd_config_without_teacher_checkpoint_stops(tmp_path):
    cfg = _tiny_kd_cfg()
    assert cfg['type'] == 'CheckedSingleTeacherDistill'
    with pytest.raises(ValueError, match=MESSAGE):
        MODELS.build(copy.deepcopy(cfg))
    MODELS.build(_tiny_kd_cfg(teacher_ckpt='random'))
    state, path = _saved_teacher(tmp_path)
    kd = MODELS.build(_tiny_kd_cfg(teacher_ckpt=path))
    kd.init_weights()
    assert torch.equal(kd.teacher.head.fc.weight, state['head.fc.weight'])
    assert not kd.teacher.head.fc.weight.requires_grad
    # MMRazor's own type stays usable as it is
    plain = MODELS.build(dict(cfg, type='SingleTeacherDistill'))
    assert type(plain).__name__ == 'SingleTeacherDistill'


def test_train_cli_stops_before_training_without_teacher(
        synthetic_cifar10, train_cli, tmp_path):
    proc = train_cli(UDSKD, str(tmp_path / 'work'),
                     f'data_root={synthetic_cifar10}',
                     'train_cfg.max_epochs=1')
    assert proc.returncode != 0
    assert "ValueError: `model.teacher_ckpt` is not set" in proc.stdout
    assert 'Epoch(train)' not in proc.stdout


def test_resume_and_test_take_the_teacher_from_the_checkpoint(tmp_path):
    """--resume and tools/test.py load the whole algorithm, teacher
    included, so they need no model.teacher_ckpt; a missing checkpoint file
    or an auto-resume that finds none changes nothing."""
    import importlib.util

    from mmrazor_udskd.utils import teacher_from_checkpoint
    ckpt = tmp_path / 'epoch_1.pth'
    ckpt.write_bytes(b'x')
    cfg = Config(dict(model=dict(teacher=dict(type='X'), teacher_ckpt=None)))
    assert not teacher_from_checkpoint(cfg, str(tmp_path / 'missing.pth'))
    assert not teacher_from_checkpoint(cfg, None)
    assert cfg.model.teacher_ckpt is None
    assert teacher_from_checkpoint(cfg, str(ckpt))
    assert cfg.model.teacher_ckpt == 'random'
    given = Config(dict(model=dict(teacher=dict(type='X'), teacher_ckpt='t')))
    assert not teacher_from_checkpoint(given, str(ckpt))
    assert given.model.teacher_ckpt == 't'
    dml = Config(dict(model=dict(teacher=None)))
    assert not teacher_from_checkpoint(dml, str(ckpt))
    assert 'teacher_ckpt' not in dml.model

    spec = importlib.util.spec_from_file_location(
        'train_tool', osp.join(REPO, 'tools/train.py'))
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    work = tmp_path / 'work'
    work.mkdir()
    base = osp.join(REPO, UDSKD)
    # auto-resume with no checkpoint yet: a fresh run, the teacher required
    fresh = train.merge_args(Config.fromfile(base), train.parse_args(
        [base, '--work-dir', str(work), '--resume']))
    assert fresh.model.teacher_ckpt is None
    (work / 'epoch_1.pth').write_bytes(b'x')
    (work / 'last_checkpoint').write_text(str(work / 'epoch_1.pth'))
    resumed = train.merge_args(Config.fromfile(base), train.parse_args(
        [base, '--work-dir', str(work), '--resume']))
    assert resumed.model.teacher_ckpt == 'random'
