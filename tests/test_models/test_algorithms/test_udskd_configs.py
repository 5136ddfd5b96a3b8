"""The UDSKD, baseline and tiny KD configs parse, build and say what the
paper's recipe (arXiv 2511.18826) says."""
import functools
import glob
import os.path as osp
import sys

import mmrazor_udskd  # noqa: F401  isort:skip  (before mmrazor)
import pytest
import torch
from mmengine.config import Config
from mmrazor.registry import MODELS

from ...conftest import REPO_ROOT as REPO

SUFFIXES = {'8xb8_in100': 100, '1xb64_cifar10': 10, '1xb64_tiny200': 200,
            '1xb64_tiny100': 100, '1xb64_cifar100': 100}
UDSKD = 'configs/udskd/udskd_logits_resnet50_resnet18-mobilenet-v2_{}{}.py'


@functools.lru_cache(maxsize=None)
def _cfg(path: str) -> Config:
    # parsed once per session (mmpretrain:: bases make parsing slow);
    # callers must not modify the result
    return Config.fromfile(osp.join(REPO, path))


def _heads(model_cfg) -> list:
    return [model_cfg.teacher.head.num_classes] + [
        s.head.num_classes for s in model_cfg.students.values()]


@pytest.mark.parametrize('suffix', list(SUFFIXES))
def test_udskd_config_recipe(suffix):
    cfg = _cfg(UDSKD.format('', suffix))
    model = cfg.model
    assert model.type == 'MultiStudentDistill' and model._scope_ == 'mmrazor'
    assert list(model.students) == ['r18', 'mbv2']
    assert (model.alpha, model.beta, model.gamma, model.tau) == \
        (0.4, 0.4, 0.2, 4.0)
    assert model.teacher_loss.weighting == 'entropy'
    assert model.peer_loss.type == 'PeerKLLoss'
    assert model.teacher_norm_eval and model.val_teacher
    n = SUFFIXES[suffix]
    assert _heads(model) == [n, n, n]
    assert cfg.data_preprocessor.num_classes == n
    # the paper's schedule, one optimizer per student name
    ow = cfg.optim_wrapper
    assert ow.constructor == 'mmrazor.StudentOptimWrapperConstructor'
    assert set(ow) == {'constructor', 'type', 'optimizer'}
    assert dict(ow.optimizer) == dict(
        type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4)
    assert cfg.param_scheduler.type == 'CosineAnnealingLR'
    assert cfg.param_scheduler.eta_min == 0.0
    assert cfg.train_cfg.max_epochs == 50
    assert cfg.val_cfg == dict(type='mmrazor.MultiModelValLoop')
    assert cfg.test_cfg.stage == 'test'
    # the first student's top-1, whatever its name
    assert cfg.default_hooks.checkpoint.save_best == 'auto'
    assert cfg.model_wrapper_cfg.type == 'MMSeparateDistributedDataParallel'
    assert 'find_unused_parameters' not in cfg
    total = cfg.train_dataloader.batch_size * (8 if '8xb8' in suffix else 1)
    assert total == 64


def test_in100_pipeline_is_the_papers():
    cfg = _cfg(UDSKD.format('', '8xb8_in100'))
    train = [t.type for t in cfg.train_dataloader.dataset.pipeline]
    assert train == ['LoadImageFromFile', 'RandomResizedCrop', 'RandomFlip',
                     'ColorJitter', 'PackInputs']
    test = cfg.val_dataloader.dataset.pipeline
    assert test[1].scale == 256 and test[2].crop_size == 224


@pytest.mark.parametrize('suffix', list(SUFFIXES))
def test_udskd_ablations_differ_in_one_thing(suffix):
    full = _cfg(UDSKD.format('', suffix))
    no_unc = _cfg(UDSKD.format('no-uncertainty_', suffix))
    no_peer = _cfg(UDSKD.format('no-peer_', suffix))
    assert no_unc.model.teacher_loss.weighting == 'none'
    assert no_peer.model.gamma == 0.0
    for cfg, key in ((no_unc, 'teacher_loss'), (no_peer, 'gamma')):
        a, b = full.model.to_dict(), cfg.model.to_dict()
        a.pop(key), b.pop(key)
        assert a == b


@pytest.mark.parametrize('suffix', ['1xb64_cifar10'])
def test_udskd_config_builds_and_runs_one_step(suffix):
    cfg = _cfg(UDSKD.format('', suffix))
    model_cfg = cfg.model.copy()
    model_cfg.data_preprocessor = cfg.data_preprocessor
    model_cfg.teacher_ckpt = 'random'
    model = MODELS.build(model_cfg)
    assert model.student_names == ['r18', 'mbv2']
    assert type(model.students['mbv2'].backbone).__name__ == \
        'MobileNetV2_CIFAR'
    from mmengine.optim import build_optim_wrapper
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    assert list(optim.keys()) == ['r18', 'mbv2']
    n = SUFFIXES[suffix]
    from mmpretrain.structures import DataSample
    batch = dict(
        inputs=[torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
                for _ in range(2)],
        data_samples=[DataSample().set_gt_label(n - 1 - i)
                      for i in range(2)])
    model.train()
    log = model.train_step(batch, optim)
    assert torch.isfinite(log['r18.loss']) and torch.isfinite(log['mbv2.loss'])


@pytest.mark.parametrize('suffix', list(SUFFIXES))
@pytest.mark.parametrize('arch, var', [('resnet18', 'r18'),
                                       ('mobilenet-v2', 'mbv2'),
                                       ('resnet50', 'r50')])
def test_baselines_are_plain_classifiers(suffix, arch, var):
    cfg = _cfg(f'configs/baselines/{arch}_{suffix}.py')
    assert cfg.model.type == 'ImageClassifier'
    assert cfg.model.head.num_classes == SUFFIXES[suffix]
    assert cfg.model.head.loss == dict(type='CrossEntropyLoss',
                                       loss_weight=1.0)  # alpha = 1
    assert cfg.model.backbone == cfg[var].backbone
    assert cfg.optim_wrapper.optimizer.lr == 0.1
    assert cfg.data_preprocessor.num_classes == SUFFIXES[suffix]


@pytest.mark.parametrize('suffix', ['1xb64_tiny200', '1xb64_tiny100'])
@pytest.mark.parametrize('arch', ['resnet18', 'mobilenet-v2'])
def test_tiny_kd_configs(suffix, arch):
    cfg = _cfg(f'configs/kd/kd_logits_resnet50_{arch}_{suffix}.py')
    n = SUFFIXES[suffix]
    assert cfg.model.type == 'CheckedSingleTeacherDistill'
    assert cfg.model.architecture.head.num_classes == n
    assert cfg.model.teacher.head.num_classes == n
    assert cfg.model.architecture.head.loss.loss_weight == 0.3
    assert cfg.model.distiller.distill_losses.loss_kl.loss_weight == 0.7


def test_tiny100_class_list_and_annotation_tool(tmp_path):
    classes_file = osp.join(REPO, 'configs/_base_/datasets/'
                            'tiny_imagenet100_classes.txt')
    with open(classes_file) as f:
        wnids = f.read().split()
    assert len(wnids) == 100 and wnids == sorted(wnids)
    assert len(set(wnids)) == 100 and wnids[0] == 'n01443537'

    # a fake tree with 3 of those classes (+1 not listed) in two splits
    root = tmp_path / 'tiny'
    for split, per in (('train', 3), ('val', 2)):
        for cls in wnids[:3] + ['n99999999']:
            d = root / split / cls
            d.mkdir(parents=True)
            for i in range(per):
                (d / f'{cls}_{i}.JPEG').write_bytes(b'')
    subset = tmp_path / 'three.txt'
    subset.write_text('\n'.join([wnids[2], wnids[0], wnids[1]]) + '\n')
    sys.path.insert(0, osp.join(REPO, 'tools', 'dataset_converters'))
    try:
        import make_imagenet100
    finally:
        sys.path.pop(0)
    ann_dir = make_imagenet100.main([str(root), '--class-list', str(subset)])
    assert ann_dir == str(root / 'meta100')
    lines = (root / 'meta100' / 'train.txt').read_text().split('\n')
    assert len([line for line in lines if line]) == 9
    assert lines[0] == f'{wnids[2]}/{wnids[2]}_0.JPEG 0'  # list order
    assert lines[3].endswith(' 1') and 'n99999999' not in ''.join(lines)

    # the tiny100 dataset config reads it with the right labels
    cfg = _cfg(UDSKD.format('', '1xb64_tiny100'))
    from mmpretrain.registry import DATASETS
    ds_cfg = cfg.val_dataloader.dataset.copy()
    ds_cfg.update(data_root=str(root), pipeline=[], lazy_init=False)
    dataset = DATASETS.build(ds_cfg)
    assert len(dataset) == 6
    assert [dataset.get_data_info(i)['gt_label'] for i in range(6)] == \
        [0, 0, 1, 1, 2, 2]
    assert dataset.get_data_info(0)['img_path'] == osp.join(
        str(root), 'val', wnids[2], f'{wnids[2]}_0.JPEG')


def test_config_set_is_complete():
    # every config is parsed by the tests above; here: none is missing
    names = {osp.basename(p) for p in
             glob.glob(osp.join(REPO, 'configs/udskd/*.py')) +
             glob.glob(osp.join(REPO, 'configs/baselines/*.py')) +
             glob.glob(osp.join(REPO, 'configs/kd/*tiny*.py'))}
    for suffix in SUFFIXES:
        for variant in ('', 'no-uncertainty_', 'no-peer_'):
            assert osp.basename(UDSKD.format(variant, suffix)) in names
        for arch in ('resnet18', 'mobilenet-v2', 'resnet50'):
            assert f'{arch}_{suffix}.py' in names
    assert osp.basename(LOWMEM) in names
    assert len(names) == 15 + 15 + 4 + 1


LOWMEM = UDSKD.format('lowmem_', '8xb8_in100')


def test_lowmem_config_is_the_main_one_with_every_mbv2_block_recomputed():
    main, low = _cfg(UDSKD.format('', '8xb8_in100')), _cfg(LOWMEM)
    spec = low.model.activation_checkpoint
    assert set(low.model) - set(main.model) == {'activation_checkpoint'}
    for key in main.model:
        assert low.model[key] == main.model[key], key
    assert low.optim_wrapper == main.optim_wrapper
    model = MODELS.build(
        dict(low.model, data_preprocessor=low.data_preprocessor,
             teacher_ckpt='random'))
    names = model.checkpointed['mbv2']
    # the stem, the 17 inverted-residual blocks, the last 1x1 conv
    assert names[0] == 'backbone.conv1' and names[-1] == 'backbone.conv2'
    assert len(names) == 19 and set(spec) == {'mbv2'}
    assert model.forward_order == ['mbv2', 'r18']
    assert model.student_names == ['r18', 'mbv2']
