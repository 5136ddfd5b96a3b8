"""Bad input stops the run before training, with a message that names the
config field (and, for data, the sample and its file)."""
import math
import os
import os.path as osp
import re

import mmrazor_udskd  # noqa: F401  isort:skip  (before mmrazor)
import pytest
import torch
from mmengine.config import Config
from mmrazor.registry import MODELS

from mmrazor_udskd.datasets import CorruptImageError, SafeLoadImageFromFile
from mmrazor_udskd.datasets.data_checks import check_data_cfg
from mmrazor_udskd.utils.validation import (check_student_names,
                                            check_trainable)
from ..helpers.runner_configs import CIFAR_UDSKD, DEFAULT_HOOKS, build_runner
from ..helpers.tiny_models import tiny_pair


def _cfg(**kwargs) -> dict:
    cfg = dict(_scope_='mmrazor', type='MultiStudentDistill',
               teacher=tiny_pair(width=8),
               students=dict(r18=tiny_pair(), mbv2=tiny_pair(width=6)),
               teacher_ckpt='random')
    cfg.update(kwargs)
    return cfg


def _raises(exc, pattern: str, **kwargs) -> str:
    """Build the algorithm, expect ``exc`` matching ``pattern``; return the
    message (for the record)."""
    with pytest.raises(exc) as info:
        MODELS.build(_cfg(**kwargs))
    msg = str(info.value)
    assert re.search(pattern, msg), msg
    return msg


# model arguments --------------------------------------------------------
def test_teacher_checkpoint_missing(tmp_path):
    path = str(tmp_path / 'nope.pth')
    msg = _raises(FileNotFoundError, r'model\.teacher_ckpt',
                  teacher_ckpt=path)
    assert path in msg and 'does not exist' in msg
    # a truncated file (e.g. an interrupted copy)
    whole = MODELS.build(tiny_pair(width=8)).state_dict()
    torch.save({'state_dict': whole}, path)
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])
    msg = _raises(ValueError, r'model\.teacher_ckpt', teacher_ckpt=path)
    assert 'could not be read as a PyTorch checkpoint' in msg


@pytest.mark.parametrize('teacher, expect', [
    (tiny_pair(width=8, num_classes=100),  # another class count
     [r'head\.fc\.weight checkpoint \[100, 8\] vs model \[5, 8\]',
      r'head\.fc\.bias']),
    (tiny_pair(width=16),  # another width: every conv differs
     [r'shape mismatch', r'backbone\.conv1\.weight checkpoint \[16, 3, 3, '
      r'3\] vs model \[8, 3, 3, 3\]']),
    (dict(tiny_pair(width=8), backbone=dict(  # another architecture
        type='ResNet_CIFAR', depth=18, stem_channels=8, base_channels=8,
        num_stages=2, out_indices=(1, ), strides=(1, 2),
        dilations=(1, 1))),
     [r'unexpected key\(s\): backbone\.layer2']),
])
def test_teacher_checkpoint_of_another_model(tmp_path, teacher, expect):
    other = MODELS.build(teacher)
    other.init_weights()
    path = str(tmp_path / 'teacher.pth')
    torch.save({'state_dict': other.state_dict()}, path)
    msg = _raises(ValueError, r'model\.teacher_ckpt.*does not fit the '
                  'teacher', teacher_ckpt=path)
    for pattern in expect:
        assert re.search(pattern, msg), (pattern, msg)
    assert 'Nothing was loaded' in msg


def test_students_and_teacher_disagree_on_num_classes():
    _raises(ValueError, r'disagree on num_classes.*'
            r'`model\.students\.mbv2\.head\.num_classes`=7',
            students=dict(r18=tiny_pair(), mbv2=tiny_pair(num_classes=7)))


@pytest.mark.parametrize('students, pattern', [
    (dict(r18=tiny_pair()), r'`model\.students` needs at least two'),
    ({}, r'`model\.students` needs at least two'),
    (dict(r18=tiny_pair(), R18=tiny_pair()),
     r"duplicate student name 'R18' in `model\.students`"),
    (dict(r18=tiny_pair(), ensemble=tiny_pair()),
     r"'ensemble' in `model\.students` collides with a reserved name"),
    ({'r18': tiny_pair(), 'mb-v2': tiny_pair()},
     r"'mb-v2' in `model\.students` must be a Python identifier"),
    ({'r18': tiny_pair(), 'class': tiny_pair()},
     r"'class' in `model\.students` must be a Python identifier"),
])
def test_bad_student_sets(students, pattern):
    _raises(ValueError, pattern, students=students)


def test_duplicate_names_in_a_name_list():
    with pytest.raises(ValueError, match="duplicate student name 'r18'"):
        check_student_names(['r18', 'mbv2', 'r18'])


@pytest.mark.parametrize('tau', [0, -1.0, math.nan, math.inf, '4'])
def test_tau_must_be_positive(tau):
    _raises(ValueError, r'`model\.tau` must be a finite number > 0',
            tau=tau)


@pytest.mark.parametrize('kwargs, field', [
    (dict(alpha=-0.1), 'model.alpha'),
    (dict(beta=math.nan), 'model.beta'),
    (dict(gamma=math.inf), 'model.gamma'),
    (dict(student_loss_weights=dict(mbv2=dict(gamma=-1.0))),
     'model.student_loss_weights.mbv2.gamma'),
    (dict(student_loss_weights=dict(r18=dict(alpha=math.nan))),
     'model.student_loss_weights.r18.alpha'),
])
def test_loss_weights_must_be_finite_and_non_negative(kwargs, field):
    _raises(ValueError, re.escape(f'`{field}` must be a finite number >= 0'),
            **kwargs)


def test_all_loss_weights_zero():
    _raises(ValueError, r"student 'r18': all its loss weights are 0",
            alpha=0.0, beta=0.0, gamma=0.0)
    # per student: the other student still trains, this one would not
    _raises(ValueError, r"student 'mbv2': all its loss weights are 0 "
            r'\(alpha=0.0, beta=0.0, gamma=0.0',
            student_loss_weights=dict(mbv2=dict(alpha=0, beta=0, gamma=0)))
    check_trainable({'a': {'alpha': 0.0, 'beta': 0.1, 'gamma': 0.0}})


def test_unknown_weighting_mode():
    _raises(ValueError, r"`model\.teacher_loss`.*`weighting` must be one of "
            r".*got 'variance'",
            teacher_loss=dict(type='EntropyWeightedKDLoss',
                              weighting='variance'))


# data -------------------------------------------------------------------
def test_dataset_folder_missing_or_empty(tmp_path):
    cfg = Config.fromfile(CIFAR_UDSKD)
    from mmrazor_udskd.utils import apply_data_root
    apply_data_root(cfg, str(tmp_path / 'missing'))
    with pytest.raises(FileNotFoundError,
                       match=r'`train_dataloader\.dataset\.data_prefix`: '
                       r"image folder '.*missing/train' does not exist"):
        check_data_cfg(cfg)
    empty = tmp_path / 'empty'
    (empty / 'train' / 'cat').mkdir(parents=True)
    (empty / 'train' / 'cat' / 'notes.txt').write_text('no images')
    apply_data_root(cfg, str(empty))
    with pytest.raises(ValueError,
                       match=r'`train_dataloader\.dataset\.data_prefix`: '
                       r"image folder '.*empty/train' is empty"):
        check_data_cfg(cfg)
    cfg.train_dataloader.dataset.ann_file = 'ann.txt'
    (empty / 'ann.txt').write_text('')
    with pytest.raises(ValueError, match=r'`train_dataloader\.dataset\.'
                       r"ann_file`: '.*ann.txt' is empty"):
        check_data_cfg(cfg)


def test_dataset_folder_missing_stops_train_before_training(tmp_path):
    """Through the runner (tools/train.py), MMPretrain's dataset build
    fails first, naming the folder; no iteration runs."""
    with pytest.raises(FileNotFoundError, match=r'missing/train'):
        build_runner(tmp_path, str(tmp_path / 'missing')).train()


def _ann_file(root: str, path: str, bad_label: int) -> None:
    classes = sorted(os.listdir(osp.join(root, 'train')))
    lines = []
    for label, cls in enumerate(classes[:4]):
        for name in sorted(os.listdir(osp.join(root, 'train', cls)))[:2]:
            lines.append(f'{cls}/{name} {label}')
    cls = classes[0]
    name = sorted(os.listdir(osp.join(root, 'train', cls)))[2]
    lines.insert(3, f'{cls}/{name} {bad_label}')
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')


def test_labels_outside_num_classes(cifar10_tiny, tmp_path):
    ann = str(tmp_path / 'train.txt')
    _ann_file(cifar10_tiny, ann, 12)
    runner = build_runner(tmp_path, cifar10_tiny, options={
        'train_dataloader.dataset.ann_file': ann,
        'train_dataloader.dataset.indices': None})
    with pytest.raises(ValueError) as info:
        runner.train()
    msg = str(info.value)
    assert msg.startswith('`train_dataloader.dataset`: label 12 of sample 3')
    assert 'airplane/0002.jpg' in msg and ann in msg
    assert 'outside [0, 10)' in msg
    assert runner.iter == 0
    assert not [f for f in os.listdir(runner.work_dir)
                if f.endswith('.pth')]


def _corrupt_tree(src: str, dst: str) -> str:
    """Two classes of real images plus three broken files in class 0."""
    classes = sorted(os.listdir(osp.join(src, 'train')))[:2]
    for cls in classes:
        os.makedirs(osp.join(dst, 'train', cls))
        for name in sorted(os.listdir(osp.join(src, 'train', cls)))[:4]:
            os.symlink(osp.join(src, 'train', cls, name),
                       osp.join(dst, 'train', cls, name))
    real = osp.join(src, 'train', classes[0],
                    sorted(os.listdir(osp.join(src, 'train', classes[0])))[0])
    with open(real, 'rb') as f:
        data = f.read()
    broken = {'zz_truncated.jpg': data[:len(data) // 2],
              'zz_garbage.jpg': b'not an image', 'zz_empty.jpg': b''}
    for name, payload in broken.items():
        with open(osp.join(dst, 'train', classes[0], name), 'wb') as f:
            f.write(payload)
    return osp.join(dst, 'train', classes[0])


def test_corrupt_images(cifar10_tiny, tmp_path):
    """Corrupt images are an error naming the file (not skipped)."""
    folder = _corrupt_tree(cifar10_tiny, str(tmp_path / 'data'))
    loader = SafeLoadImageFromFile()
    for name in ('zz_truncated.jpg', 'zz_garbage.jpg', 'zz_empty.jpg'):
        path = osp.join(folder, name)
        with pytest.raises(CorruptImageError,
                           match=re.escape(f"image file '{path}'")):
            loader(dict(img_path=path))
    ok = loader(dict(img_path=osp.join(folder, sorted(os.listdir(folder))[0])))
    assert ok['img'].shape == (32, 32, 3)

    # DataSanityHook(verify_images=True) lists every corrupt file before
    # the first iteration
    hooks = DEFAULT_HOOKS.replace("dict(type='DataSanityHook')",
                                  "dict(type='DataSanityHook', "
                                  'verify_images=True)')
    runner = build_runner(
        tmp_path, str(tmp_path / 'data'), f'custom_hooks = [{hooks}]',
        options={'train_dataloader.dataset.indices': None,
                 'val_dataloader.dataset.data_prefix': 'train',
                 'val_dataloader.dataset.indices': 2})
    with pytest.raises(ValueError) as info:
        runner.train()
    msg = str(info.value)
    assert msg.startswith('`train_dataloader.dataset`: 3 corrupt or '
                          'unreadable image file(s)')
    for name in ('zz_truncated.jpg', 'zz_garbage.jpg', 'zz_empty.jpg'):
        assert name in msg
    assert runner.iter == 0


def test_non_finite_student_logits_stop_the_run(cifar10_tiny, tmp_path):
    """NaN logits from one student at iteration 3: the run stops naming the
    student and the iteration, no student was updated in that iteration
    and no checkpoint holds NaN."""
    runner = build_runner(tmp_path, cifar10_tiny, options={
        'train_cfg.max_epochs': 3, 'train_cfg.val_interval': 10,
        'default_hooks.checkpoint.by_epoch': False,
        'default_hooks.checkpoint.interval': 1,
        'default_hooks.checkpoint.max_keep_ckpts': -1})
    calls = []

    def poison(module, args, output):
        if module.training:
            calls.append(1)
            if len(calls) == 3:
                return output * float('nan')
        return output

    runner.model.students['mbv2'].register_forward_hook(poison)
    with pytest.raises(FloatingPointError) as info:
        runner.train()
    msg = str(info.value)
    assert msg.startswith("non-finite logits at iteration 3 (epoch 2) from "
                          "student 'mbv2'")
    assert "'r18'" not in msg and 'teacher' not in msg
    files = sorted(f for f in os.listdir(runner.work_dir)
                   if f.endswith('.pth'))
    assert files == ['iter_1.pth', 'iter_2.pth']
    for name in files:
        state = torch.load(osp.join(runner.work_dir, name),
                           weights_only=True)['state_dict']
        assert all(torch.isfinite(v).all() for v in state.values()
                   if v.is_floating_point()), name
    # stopped before the update: the weights are still iteration 2's
    last = torch.load(osp.join(runner.work_dir, 'iter_2.pth'),
                      weights_only=True)['state_dict']
    for key, value in runner.model.state_dict().items():
        if 'running' not in key and 'num_batches' not in key:
            assert torch.equal(value, last[key]), key
