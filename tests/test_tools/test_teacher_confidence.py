"""tools/analysis_tools/teacher_confidence.py on real CIFAR-10 images: the
reported statistics equal a hand computation of UDSKD's weight (arXiv
2511.18826)."""
import importlib.util
import json
import math
import os.path as osp
import subprocess
import sys

import mmrazor_udskd  # noqa: F401  isort:skip  (before mmrazor)
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

UDSKD = ('configs/udskd/'
         'udskd_logits_resnet50_resnet18-mobilenet-v2_1xb64_cifar10.py')
PLAIN = 'configs/baselines/resnet50_1xb64_cifar10.py'
N = 24


def _tool(repo_root: str):
    path = osp.join(repo_root, 'tools/analysis_tools/teacher_confidence.py')
    spec = importlib.util.spec_from_file_location('teacher_confidence', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def teacher_and_ckpts(repo_root, tmp_path_factory):
    """A CIFAR R50 teacher with a sharpened head (so that w spreads over
    (0, 1)), saved as a classifier and as a distillation checkpoint."""
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(osp.join(repo_root, UDSKD))
    teacher_cfg = cfg.model.teacher.copy()
    teacher_cfg.data_preprocessor = cfg.data_preprocessor
    torch.manual_seed(0)
    teacher = MODELS.build(teacher_cfg)
    teacher.init_weights()
    with torch.no_grad():
        teacher.head.fc.weight.normal_(0, 1.1)
    teacher.eval()
    out = tmp_path_factory.mktemp('teacher')
    plain = str(out / 'teacher.pth')
    torch.save({'state_dict': teacher.state_dict()}, plain)
    distill = str(out / 'algorithm.pth')
    state = {f'teacher.{k}': v for k, v in teacher.state_dict().items()}
    state['r18.head.fc.weight'] = torch.zeros(10, 512)  # ignored
    torch.save({'state_dict': state, 'meta': {}}, distill)
    return teacher, plain, distill


def _expected(teacher, repo_root: str, data_root: str) -> dict:
    """The statistics computed by hand on the first N test images."""
    from mmpretrain.registry import DATASETS
    cfg = Config.fromfile(osp.join(repo_root, UDSKD))
    ds_cfg = cfg.val_dataloader.dataset.copy()
    ds_cfg.data_root = data_root
    dataset = DATASETS.build(ds_cfg)
    batch = pseudo_collate([dataset[i] for i in range(N)])
    with torch.no_grad():
        data = teacher.data_preprocessor(batch, False)
        logits = teacher(data['inputs'], mode='tensor')
    labels = torch.cat([s.gt_label for s in data['data_samples']])
    logp1 = F.log_softmax(logits, 1)
    h1 = -(logp1.exp() * logp1).sum(1)
    logp4 = F.log_softmax(logits / 4, 1)
    h4 = -(logp4.exp() * logp4).sum(1)
    w = 1 - h1 / math.log(10)
    per_class = [w[labels == c].mean().item() if (labels == c).any() else None
                 for c in range(10)]
    return dict(weight_mean=w.mean().item(), entropy_t1=h1.mean().item(),
                entropy_tau=h4.mean().item(),
                uncertain_ratio=(w < 0.5).float().mean().item(),
                one_minus_weight_mean=1 - w.mean().item(),
                per_class_weight=per_class)


def _check(summary: dict, expected: dict) -> None:
    for key in ('weight_mean', 'entropy_t1', 'entropy_tau',
                'uncertain_ratio', 'one_minus_weight_mean'):
        assert summary[key] == pytest.approx(expected[key], abs=1e-5), key
    for got, want in zip(summary['per_class_weight'],
                         expected['per_class_weight']):
        assert (got is None) == (want is None)
        if want is not None:
            assert got == pytest.approx(want, abs=1e-5)


def test_teacher_confidence_distill_and_plain_configs(
        teacher_and_ckpts, cifar10_tiny, repo_root, tmp_path):
    teacher, plain, distill = teacher_and_ckpts
    expected = _expected(teacher, repo_root, cifar10_tiny)
    # a mix of confident and uncertain samples, so the test says something
    assert 0 < expected['uncertain_ratio'] < 1
    tool = _tool(repo_root)

    out1 = str(tmp_path / 'distill')
    summary = tool.main([
        osp.join(repo_root, UDSKD), '--checkpoint', distill, '--data-root',
        cifar10_tiny, '--max-samples', str(N), '--batch-size', '10',
        '--out-dir', out1
    ])
    assert summary['num_samples'] == N and summary['num_classes'] == 10
    assert summary['tau'] == 4.0  # from model.tau of the config
    _check(summary, expected)
    for name in ('confidence_hist.png', 'confidence_per_class.png'):
        with open(osp.join(out1, name), 'rb') as f:
            head = f.read(8)
        assert head == b'\x89PNG\r\n\x1a\n'
        assert osp.getsize(osp.join(out1, name)) > 5000
    with open(osp.join(out1, 'summary.json')) as f:
        saved = json.load(f)
    assert saved['weight_mean'] == pytest.approx(expected['weight_mean'])

    # the plain classifier config with a plain checkpoint: same numbers
    out2 = str(tmp_path / 'plain')
    summary2 = tool.main([
        osp.join(repo_root, PLAIN), '--checkpoint', plain, '--data-root',
        cifar10_tiny, '--max-samples', str(N), '--out-dir', out2,
        '--tau', '4'
    ])
    _check(summary2, expected)

    # the train split is read with the test pipeline: deterministic
    a = tool.main([osp.join(repo_root, PLAIN), '--checkpoint', plain,
                   '--data-root', cifar10_tiny, '--max-samples', '8',
                   '--split', 'train', '--out-dir', str(tmp_path / 't1')])
    b = tool.main([osp.join(repo_root, PLAIN), '--checkpoint', plain,
                   '--data-root', cifar10_tiny, '--max-samples', '8',
                   '--split', 'train', '--out-dir', str(tmp_path / 't2')])
    assert a['weights'] == b['weights']


@pytest.mark.slow
def test_teacher_confidence_cli(teacher_and_ckpts, cifar10_tiny, repo_root,
                                tmp_path):
    teacher, plain, _ = teacher_and_ckpts
    expected = _expected(teacher, repo_root, cifar10_tiny)
    proc = subprocess.run(
        [sys.executable, 'tools/analysis_tools/teacher_confidence.py', UDSKD,
         '--checkpoint', plain, '--data-root', cifar10_tiny,
         '--max-samples', str(N), '--out-dir', str(tmp_path / 'cli')],
        cwd=repo_root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert f"mean w: {expected['weight_mean']:.4f}" in proc.stdout
    assert (f"share with w < 0.5: "
            f"{100 * expected['uncertain_ratio']:.2f}%") in proc.stdout
    assert (f"1 - mean w (the paper's uncertain share): "
            f"{100 * expected['one_minus_weight_mean']:.2f}%") in proc.stdout
    assert 'mean H(T=1): ' in proc.stdout and 'mean H(T=4): ' in proc.stdout
    assert osp.isfile(tmp_path / 'cli' / 'confidence_hist.png')
