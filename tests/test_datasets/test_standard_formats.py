"""The dataset bases on mmpretrain's CIFAR10 / CIFAR100 (official pickled
batches) and ImageNet (annotation files) types, and the CIFAR-100 config
set, on synthetic files written in each format's real layout.

mmpretrain checks the CIFAR files against the md5s of the official release.
The tests do not switch that check off: they replace the table of expected
md5s by the synthetic files' md5s (monkeypatch here; a module loaded through
``custom_imports`` in the training subprocess), so the check still runs,
against these files, and the configs users get are unchanged."""
import glob
import json
import os
import os.path as osp
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import mmrazor_udskd  # noqa: F401  (registrations, scope)
from tests.test_configs._tiny import (REPO_ROOT, cfg_path, dml_models,
                                      kd_models, tiny_net, udskd_models,
                                      write_cifar10,
                                      write_cifar100, write_config,
                                      write_imagenet_ann, write_md5_override)

U = 'udskd/udskd_logits_resnet50_resnet18-mobilenet-v2'
CIFAR100_SET = {
    'baselines/resnet50_1xb64_cifar100.py': 'r50',
    'baselines/resnet18_1xb64_cifar100.py': 'r18',
    'baselines/mobilenet-v2_1xb64_cifar100.py': 'mbv2',
    'kd/kd_logits_resnet50_resnet18_1xb64_cifar100.py': 'kd',
    'kd/kd_logits_resnet50_mobilenet-v2_1xb64_cifar100.py': 'kd',
    f'{U}_1xb64_cifar100.py': 'udskd',
    f'{U}_no-peer_1xb64_cifar100.py': 'udskd',
    f'{U}_no-uncertainty_1xb64_cifar100.py': 'udskd',
    'dml/dml_resnet18-mobilenet-v2_1xb64_cifar100.py': 'dml',
}


def _dataset(base: str, split_key: str, data_root: str):
    from mmengine.config import Config
    from mmpretrain.registry import DATASETS
    cfg = Config.fromfile(cfg_path(f'_base_/datasets/{base}'))
    ds_cfg = cfg[split_key].dataset
    ds_cfg.data_root = data_root
    return DATASETS.build(ds_cfg)


def _patch_md5(monkeypatch, cls, md5: dict, meta_name: str) -> None:
    monkeypatch.setattr(cls, 'train_list',
                        [[n, md5[n]] for n, _ in cls.train_list])
    monkeypatch.setattr(cls, 'test_list',
                        [[n, md5[n]] for n, _ in cls.test_list])
    monkeypatch.setattr(cls, 'meta', dict(cls.meta, md5=md5[meta_name]))


def _expected(path: str, label_key: str):
    with open(path, 'rb') as f:
        entry = pickle.load(f, encoding='latin1')
    imgs = entry['data'].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return imgs, entry[label_key]


def test_cifar10_pickled_batches(tmp_path, monkeypatch):
    from mmpretrain.datasets import CIFAR10
    root = str(tmp_path)
    md5 = write_cifar10(root, per_batch=4, test_size=10)
    # the official md5s: the synthetic files are rejected, nothing downloaded
    with pytest.raises(RuntimeError, match='Cannot find CIFAR10 dataset'):
        _dataset('cifar10_pickle_bs64.py', 'train_dataloader', root)
    _patch_md5(monkeypatch, CIFAR10, md5, 'batches.meta')
    train = _dataset('cifar10_pickle_bs64.py', 'train_dataloader', root)
    test = _dataset('cifar10_pickle_bs64.py', 'val_dataloader', root)
    assert (len(train), len(test)) == (20, 10)
    folder = osp.join(root, 'cifar-10-batches-py')
    imgs, labels = _expected(osp.join(folder, 'data_batch_3'), 'labels')
    for i in range(4):  # batch 3 is rows 8..11, HWC RGB as in the pickle
        info = train.get_data_info(8 + i)
        np.testing.assert_array_equal(info['img'], imgs[i])
        assert info['gt_label'] == labels[i]
    assert test.get_data_info(9)['gt_label'] == _expected(
        osp.join(folder, 'test_batch'), 'labels')[1][9]
    assert train.metainfo['classes'][0] == 'airplane'


def test_cifar100_pickled_batches(tmp_path, monkeypatch):
    from mmpretrain.datasets import CIFAR100
    root = str(tmp_path)
    md5 = write_cifar100(root, train_size=20, test_size=10)
    with pytest.raises(RuntimeError, match='Cannot find CIFAR100 dataset'):
        _dataset('cifar100_bs64.py', 'train_dataloader', root)
    _patch_md5(monkeypatch, CIFAR100, md5, 'meta')
    train = _dataset('cifar100_bs64.py', 'train_dataloader', root)
    test = _dataset('cifar100_bs64.py', 'val_dataloader', root)
    assert (len(train), len(test)) == (20, 10)
    folder = osp.join(root, 'cifar-100-python')
    imgs, labels = _expected(osp.join(folder, 'train'), 'fine_labels')
    for i in (0, 7, 19):
        info = train.get_data_info(i)
        np.testing.assert_array_equal(info['img'], imgs[i])
        assert info['gt_label'] == labels[i]  # the fine label
    assert max(labels) > 20  # fine (100), not coarse (20) labels
    assert len(train.metainfo['classes']) == 100


def test_imagenet_annotation_files(tmp_path):
    root = str(tmp_path)
    wnids = ['n01440764', 'n01443537', 'n01484850']
    write_imagenet_ann(root, wnids, per_class=2, ann_dir='meta')
    train = _dataset('imagenet_bs64.py', 'train_dataloader', root)
    val = _dataset('imagenet_bs64.py', 'val_dataloader', root)
    assert (len(train), len(val)) == (6, 6)
    info = train.get_data_info(3)
    assert info['img_path'] == osp.join(root, 'train', wnids[1],
                                        f'{wnids[1]}_1.JPEG')
    assert info['gt_label'] == 1
    assert [val.get_data_info(i)['gt_label'] for i in range(6)] == \
        [0, 0, 1, 1, 2, 2]
    assert osp.dirname(val.get_data_info(0)['img_path']) == osp.join(
        root, 'val')
    assert len(train.metainfo['classes']) == 1000
    assert train.pipeline(train.get_data_info(0))['inputs'].shape == (3, 224,
                                                                        224)


def test_cifar100_config_set():
    from mmengine.config import Config
    found = {
        osp.relpath(p, cfg_path(''))
        for p in glob.glob(cfg_path('*/*_cifar100.py'))
        if not p.split(osp.sep)[-2] == 'dkd'  # DKD: tests/test_configs
    }
    assert found == set(CIFAR100_SET)  # mirrors the CIFAR-10 names
    for rel, kind in CIFAR100_SET.items():
        assert osp.isfile(cfg_path(rel.replace('cifar100', 'cifar10')))
        cfg = Config.fromfile(cfg_path(rel))
        assert cfg.train_dataloader.dataset.type == 'CIFAR100'
        assert cfg.train_dataloader.dataset.download is False
        assert cfg.data_preprocessor.num_classes == 100
        if kind == 'udskd':
            nets = [cfg.model.teacher, *cfg.model.students.values()]
            assert (cfg.model.alpha, cfg.model.beta, cfg.model.tau) == (
                0.4, 0.4, 4.0)
            gamma = 0.0 if 'no-peer' in rel else 0.2
            weighting = 'none' if 'no-uncertainty' in rel else 'entropy'
            assert cfg.model.gamma == gamma
            assert cfg.model.teacher_loss.weighting == weighting
        elif kind == 'dml':
            nets = list(cfg.model.students.values())
            assert cfg.model.teacher is None and cfg.model.beta == 0.0
            assert (cfg.model.alpha, cfg.model.gamma, cfg.model.tau) == (
                0.4, 0.2, 4.0)
        elif kind == 'kd':
            nets = [cfg.model.teacher, cfg.model.architecture]
            assert cfg.model.architecture.head.loss.loss_weight == 0.3
            assert cfg.model.distiller.distill_losses.loss_kl.loss_weight \
                == 0.7
        else:
            nets = [cfg.model]
        for net in nets:
            assert net.head.num_classes == 100


TRAIN_SCRIPT = """
import runpy, sys
sys.argv = ['train.py']
train = runpy.run_path({train!r})
for config, work_dir, data_root in {runs!r}:
    train['main']([config, '--work-dir', work_dir, '--cfg-options',
                   *{options!r}, 'data_root=' + data_root])
    print('TRAINED', work_dir, flush=True)
"""


def _train_all(tmp_path, runs, pythonpath):
    """One interpreter runs tools/train.py's main for every config."""
    options = ['train_dataloader.num_workers=0',
               'train_dataloader.persistent_workers=False',
               'val_dataloader.num_workers=0',
               'val_dataloader.persistent_workers=False',
               'test_dataloader.num_workers=0',
               'test_dataloader.persistent_workers=False',
               'default_hooks.logger.interval=1']
    code = TRAIN_SCRIPT.format(
        train=osp.join(REPO_ROOT, 'tools', 'train.py'), runs=runs,
        options=options)
    env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='2',
               PYTHONPATH=os.pathsep.join([pythonpath, REPO_ROOT]))
    proc = subprocess.run([sys.executable, '-c', textwrap.dedent(code)],
                          cwd=str(tmp_path), env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=1200)
    assert proc.returncode == 0, proc.stdout[-4000:]
    return proc.stdout


def _scalars(work_dir: str) -> list:
    path = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))[0]
    with open(path) as f:
        return [json.loads(line) for line in f]


def _write_runs(tmp_path, names):
    """Tiny-net configs of each format on synthetic data; returns the runs
    (config, work_dir, data_root) for ``names``."""
    c10, c100, inet = (str(tmp_path / d) for d in ('c10', 'c100', 'inet'))
    md5_mods = [
        write_md5_override(str(tmp_path), 'cifar10', write_cifar10(c10)),
        write_md5_override(str(tmp_path), 'cifar100', write_cifar100(c100)),
    ]
    write_imagenet_ann(inet, ['n01440764', 'n01443537'], per_class=4,
                       ann_dir='meta')
    imports = ('custom_imports = dict(imports=' +
               repr(['mmrazor_udskd', *md5_mods]) +
               ', allow_failed_imports=False)')
    cfgs = {
        'udskd_c100': ([cfg_path(f'{U}_1xb64_cifar100.py')],
                       udskd_models(100), c100),
        'kd_c100': ([cfg_path('kd/kd_logits_resnet50_resnet18_1xb64_'
                              'cifar100.py')], kd_models(100), c100),
        'dkd_c100': ([cfg_path('dkd/dkd_logits_resnet50_mobilenet-v2_1xb64_'
                               'cifar100.py')], kd_models(100), c100),
        'dml_c100': ([cfg_path('dml/dml_resnet18-mobilenet-v2_1xb64_'
                               'cifar100.py')], dml_models(100), c100),
        'udskd_c10_pickle': ([
            cfg_path('_base_/datasets/cifar10_pickle_bs64.py'),
            cfg_path('_base_/models/nets_cifar.py'),
            cfg_path('_base_/algorithms/udskd.py')
        ], udskd_models(10, replace=False), c10),
        'r18_imagenet': ([
            cfg_path('_base_/datasets/imagenet_bs64.py'),
            cfg_path('_base_/schedules/sgd_cosine_50e.py'),
            cfg_path('_base_/default_runtime.py')
        ], 'model = ' + repr(tiny_net(4, 1000, replace=False)), inet),
    }
    runs = []
    for name in names:
        bases, body, data_root = cfgs[name]
        path = write_config(str(tmp_path / f'{name}.py'), bases,
                            imports + '\n' + body)
        runs.append((path, str(tmp_path / 'work' / name), data_root))
    return runs


#: ceil(N / 8) iterations: every image of the split was read
ITERS = {'udskd_c100': 3, 'kd_c100': 3, 'dkd_c100': 3, 'dml_c100': 3,
         'udskd_c10_pickle': 3, 'r18_imagenet': 1}


def _check_runs(tmp_path, names) -> None:
    runs = _write_runs(tmp_path, names)
    out = _train_all(tmp_path, runs, str(tmp_path))
    assert out.count('TRAINED') == len(runs)
    for name in names:
        rows = _scalars(str(tmp_path / 'work' / name))
        train_rows = [r for r in rows if 'loss' in r]
        assert len(train_rows) == ITERS[name], (name, rows)
        assert all(np.isfinite(r['loss']) for r in train_rows)
        val = [r for r in rows if any(k.endswith('accuracy/top1') for k in r)]
        assert len(val) == 1, (name, rows)
        for key, value in val[0].items():
            if key.endswith('accuracy/top1'):
                assert 0.0 <= value <= 100.0
        if name.startswith(('udskd', 'dml')):
            assert {'r18/accuracy/top1', 'mbv2/accuracy/top1',
                    'ensemble/accuracy/top1'} <= set(val[0])
        if name.startswith('dml'):  # no teacher: neither run nor scored
            assert not any(k.startswith('teacher') for k in val[0])
            assert not any(k.startswith('stats.') for k in train_rows[-1])


@pytest.mark.slow
def test_one_epoch_imagenet_annotation_files(tmp_path):
    _check_runs(tmp_path, ['r18_imagenet'])


@pytest.mark.slow
def test_one_epoch_cifar_pickled_batches(tmp_path):
    """CIFAR-100 (UDSKD, built-in KD, DKD, DML) and CIFAR-10 pickled, one
    short epoch each through tools/train.py."""
    _check_runs(tmp_path, ['udskd_c100', 'kd_c100', 'dkd_c100', 'dml_c100',
                           'udskd_c10_pickle'])


def test_data_check_names_a_missing_pickled_batch(tmp_path):
    """The pre-flight data check reads CIFAR's batch list, not an image
    tree: all files present passes, one missing is named."""
    from mmpretrain.datasets import CIFAR10

    from mmrazor_udskd.datasets.data_checks import check_data_cfg
    folder = tmp_path / CIFAR10.base_folder
    folder.mkdir()
    for name, _ in CIFAR10.train_list + CIFAR10.test_list:
        (folder / name).write_bytes(b'x')
    cfg = dict(train_dataloader=dict(dataset=dict(
        type='CIFAR10', data_root=str(tmp_path), data_prefix='')))
    check_data_cfg(cfg)
    (folder / 'data_batch_3').unlink()
    with pytest.raises(FileNotFoundError,
                       match=r'train_dataloader\.dataset\.data_root.*'
                       r'data_batch_3'):
        check_data_cfg(cfg)
