"""tools/model_converters/export_students.py: exported students give the same
logits as inside MultiStudentDistill (UDSKD, arXiv 2511.18826)."""
import importlib.util
import os.path as osp
import subprocess
import sys

import mmrazor_udskd  # noqa: F401  isort:skip  (before mmrazor)
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmrazor.registry import MODELS

CONFIG = ('configs/udskd/'
          'udskd_logits_resnet50_resnet18-mobilenet-v2_1xb64_cifar10.py')


def _tool(repo_root: str):
    path = osp.join(repo_root, 'tools/model_converters/export_students.py')
    spec = importlib.util.spec_from_file_location('export_students', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def algorithm_ckpt(repo_root, tmp_path_factory):
    """A runner-style checkpoint of the CIFAR UDSKD algorithm with random
    weights and random BN statistics (so eval-mode BN matters)."""
    cfg = Config.fromfile(osp.join(repo_root, CONFIG))
    model_cfg = cfg.model.copy()
    model_cfg.data_preprocessor = cfg.data_preprocessor
    model_cfg.teacher_ckpt = 'random'  # random weights on purpose
    torch.manual_seed(1)
    model = MODELS.build(model_cfg)
    model.init_weights()
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=gen) * .1)
                module.running_var.copy_(torch.rand(n, generator=gen) + .5)
                module.weight.copy_(torch.rand(n, generator=gen) + .5)
        for student in model.students.values():
            student.head.fc.weight.normal_(0, 0.5, generator=gen)
    path = str(tmp_path_factory.mktemp('ckpt') / 'epoch_3.pth')
    classes = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog',
               'frog', 'horse', 'ship', 'truck')
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': {'classes': classes}, 'epoch': 3}},
               path)
    model.eval()
    return model, path, classes


def test_export_students_same_logits(algorithm_ckpt, cifar10_tiny,
                                     repo_root, tmp_path):
    from mmpretrain import ImageClassificationInferencer, get_model
    from mmpretrain.registry import DATASETS

    model, ckpt, classes = algorithm_ckpt
    out_dir = str(tmp_path / 'exported')
    written = _tool(repo_root).main([
        osp.join(repo_root, CONFIG), ckpt, '--out-dir', out_dir
    ])
    assert sorted(written) == ['mbv2', 'r18']
    for name in ('r18', 'mbv2'):
        assert osp.isfile(osp.join(out_dir, f'{name}.pth'))
        assert osp.isfile(osp.join(out_dir, f'{name}.py'))

    # real CIFAR-10 test images through the config's test pipeline
    cfg = Config.fromfile(osp.join(repo_root, CONFIG))
    ds_cfg = cfg.test_dataloader.dataset.copy()
    ds_cfg.data_root = cifar10_tiny
    dataset = DATASETS.build(ds_cfg)
    picks = list(range(0, len(dataset), len(dataset) // 8))[:8]
    batch = pseudo_collate([dataset[i] for i in picks])
    with torch.no_grad():
        data = model.data_preprocessor(batch, False)
        inside = model.predict_all(**data)

    for name in ('r18', 'mbv2'):
        exported_ckpt = torch.load(osp.join(out_dir, f'{name}.pth'),
                                   map_location='cpu', weights_only=True)
        assert exported_ckpt['meta']['dataset_meta']['classes'] == classes
        assert exported_ckpt['meta']['epoch'] == 3
        own = model.students[name].state_dict()
        assert set(exported_ckpt['state_dict']) == set(own)
        exported_cfg = Config.fromfile(osp.join(out_dir, f'{name}.py'))
        assert ('custom_imports' in exported_cfg) == (name == 'mbv2')

        net = get_model(osp.join(out_dir, f'{name}.py'),
                        pretrained=osp.join(out_dir, f'{name}.pth'))
        net.eval()
        assert net._dataset_meta['classes'] == classes
        with torch.no_grad():
            own_data = net.data_preprocessor(batch, False)
            torch.testing.assert_close(own_data['inputs'], data['inputs'])
            logits = net(own_data['inputs'], mode='tensor')
            expected = model.students[name](data['inputs'], mode='tensor')
        assert torch.equal(logits, expected), (logits - expected).abs().max()
        assert expected.std() > 0.1  # not a degenerate comparison

        inferencer = ImageClassificationInferencer(
            osp.join(out_dir, f'{name}.py'),
            pretrained=osp.join(out_dir, f'{name}.pth'), device='cpu')
        paths = [dataset.get_data_info(i)['img_path'] for i in picks]
        results = inferencer(paths, batch_size=4)
        for i, result in enumerate(results):
            np.testing.assert_allclose(
                result['pred_scores'], inside[name][i].pred_score.numpy(),
                rtol=1e-5, atol=1e-6)
            assert result['pred_class'] == classes[
                inside[name][i].pred_label.item()]


def test_exported_in100_student_needs_no_plugin(repo_root):
    """The in100 MobileNetV2 trains with InplaceReLU6; its exported config
    uses mmcv's ReLU6 (same math) and so plain mmpretrain builds it."""
    from mmrazor_udskd.models.layers import InplaceReLU6
    tool = _tool(repo_root)
    cfg = Config.fromfile(osp.join(
        repo_root, 'configs/udskd/'
        'udskd_logits_resnet50_resnet18-mobilenet-v2_8xb8_in100.py'))
    assert cfg.model.students.mbv2.backbone.act_cfg.type == 'InplaceReLU6'
    assert tool.needs_plugin(cfg.model.students.mbv2.to_dict())
    out = tool.student_config(cfg, 'mbv2')
    assert out.model.backbone.act_cfg.type == 'ReLU6'
    assert 'custom_imports' not in out
    # the training model keeps the plugin layer
    built = MODELS.build(cfg.model.students.mbv2)
    assert any(isinstance(m, InplaceReLU6) for m in built.modules())


@pytest.mark.slow
def test_export_students_cli_and_errors(algorithm_ckpt, repo_root, tmp_path):
    _, ckpt, _ = algorithm_ckpt
    proc = subprocess.run(
        [sys.executable, 'tools/model_converters/export_students.py', CONFIG,
         ckpt, '--out-dir', str(tmp_path / 'one'), '--students', 'mbv2'],
        cwd=repo_root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert 'mbv2: ' in proc.stdout
    assert not osp.exists(tmp_path / 'one' / 'r18.pth')
    assert osp.isfile(tmp_path / 'one' / 'mbv2.pth')

    tool = _tool(repo_root)
    with pytest.raises(ValueError, match='not in'):
        tool.main([osp.join(repo_root, CONFIG), ckpt, '--out-dir',
                   str(tmp_path / 'x'), '--students', 'r50'])
    kd = osp.join(repo_root,
                  'configs/kd/kd_logits_resnet50_resnet18_1xb64_cifar10.py')
    with pytest.raises(ValueError, match='students'):
        tool.main([kd, ckpt, '--out-dir', str(tmp_path / 'y')])
