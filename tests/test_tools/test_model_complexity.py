"""tools/analysis_tools/model_complexity.py: parameters and FLOPs of every
network of a config, against counts done by hand on tiny networks."""
import importlib.util
import json
import os.path as osp

import pytest

from tests.test_configs._tiny import REPO_ROOT, cfg_path, tiny_net

TOOL = osp.join(REPO_ROOT, 'tools', 'analysis_tools', 'model_complexity.py')


def _tool():
    spec = importlib.util.spec_from_file_location('model_complexity', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def params_by_hand(w: int, c: int) -> int:
    """One-stage ResNet_CIFAR-18 of width w (stem w, two BasicBlocks w->w,
    no downsample) with a C-class linear head:
    stem conv 3*w*9 + BN 2w; per block two convs w*w*9 and two BNs 2w;
    fc w*C + C."""
    return 27 * w + 2 * w + 2 * (2 * 9 * w * w + 2 * 2 * w) + w * c + c


def flops_by_hand(w: int, c: int, h: int) -> int:
    """The same net on an h x h image (stride 1 everywhere, h*h positions):
    multiply-adds of the stem (h*h*w*27) and the four 3x3 convs
    (h*h*w*9w each), the fc (w*C); 5 BatchNorms at 2 per element
    (2*w*h*h each); global average pooling at 1 per input element."""
    hw = h * h
    convs = hw * w * 27 + 4 * hw * w * 9 * w
    return convs + w * c + 5 * 2 * w * hw + w * hw


def test_hand_count_formula():
    assert params_by_hand(4, 10) == 108 + 8 + 2 * (144 + 8 + 144 + 8) + 50
    assert flops_by_hand(4, 10, 8) == 6912 + 4 * 9216 + 40 + 2560 + 256


def _write(path, bases, body):
    with open(path, 'w') as f:
        f.write(f'_base_ = {bases!r}\n{body}\n')
    return str(path)


def test_plain_kd_and_udskd_configs(tmp_path, capsys):
    tool = _tool()
    plain = _write(tmp_path / 'plain.py',
                   [cfg_path('baselines/resnet18_1xb64_cifar10.py')],
                   'model = ' + repr(tiny_net(4, 10)))
    rows = tool.main([plain, '--shape', '8'])
    assert rows == [dict(name='model', role='model',
                         params=params_by_hand(4, 10),
                         flops=flops_by_hand(4, 10, 8))]
    kd = _write(tmp_path / 'kd.py',
                [cfg_path('kd/kd_logits_resnet50_resnet18_1xb64_cifar10.py')],
                'model = dict(teacher=' + repr(tiny_net(8, 10)) +
                ', architecture=' + repr(tiny_net(4, 10)) + ')')
    rows = tool.main([kd, '--shape', '8', '--json',
                      str(tmp_path / 'kd.json')])
    assert [(r['name'], r['role']) for r in rows] == [('teacher', 'teacher'),
                                                       ('student', 'student')]
    assert rows[0]['params'] == params_by_hand(8, 10)
    assert rows[1]['params_ratio'] == pytest.approx(
        params_by_hand(8, 10) / params_by_hand(4, 10))
    assert rows[1]['flops_ratio'] == pytest.approx(
        flops_by_hand(8, 10, 8) / flops_by_hand(4, 10, 8))
    with open(tmp_path / 'kd.json') as f:
        assert json.load(f) == dict(shape=[8, 8], rows=rows)
    udskd = _write(
        tmp_path / 'udskd.py',
        [cfg_path('udskd/udskd_logits_resnet50_resnet18-mobilenet-v2_1xb64_'
                  'cifar10.py')],
        'model = dict(teacher=' + repr(tiny_net(8, 7)) +
        ', students=dict(r18=' + repr(tiny_net(4, 7)) + ', mbv2=' +
        repr(tiny_net(6, 7)) + '))')
    capsys.readouterr()
    # no --shape: the CIFAR train crop, 32 px
    rows = tool.main([udskd])
    out = capsys.readouterr().out
    assert [r['name'] for r in rows] == ['teacher', 'r18', 'mbv2']
    for row, w in zip(rows, (8, 4, 6)):
        assert row['params'] == params_by_hand(w, 7)
        assert row['flops'] == flops_by_hand(w, 7, 32)
    assert rows[2]['flops_ratio'] == pytest.approx(
        flops_by_hand(8, 7, 32) / flops_by_hand(6, 7, 32))
    assert 'input 3x32x32' in out
    assert f'| mbv2 | student | {params_by_hand(6, 7) / 1e6:.3f} |' in out
    total = params_by_hand(4, 7) + params_by_hand(6, 7)
    assert f'| all students | sum | {total / 1e6:.3f} |' in out


def test_infer_shape():
    from mmengine.config import Config
    tool = _tool()
    for rel, size in (
        ('udskd/udskd_logits_resnet50_resnet18-mobilenet-v2_8xb8_in100.py',
         224),
        ('kd/kd_logits_resnet50_resnet18_1xb64_cifar100.py', 32),
        ('baselines/resnet18_1xb64_tiny200.py', 64),
        ('demo/resnet18_1xb64_digits.py', 16),
    ):
        assert tool.infer_shape(Config.fromfile(cfg_path(rel))) == (size,
                                                                    size)
