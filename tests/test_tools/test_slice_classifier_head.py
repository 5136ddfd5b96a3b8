"""tools/model_converters/slice_classifier_head.py: an ImageNet-1k
classifier sliced to the ImageNet-100 classes gives exactly the full model's
logits of those classes, in the class-list order."""
import importlib.util
import os
import os.path as osp
import random

import mmrazor_udskd  # noqa: F401  isort:skip  (before mmrazor)
import pytest
import torch
from mmpretrain.registry import MODELS

from mmrazor_udskd.utils.weights_only import load_state_dict_exactly


def _tool(repo_root: str):
    path = osp.join(repo_root, 'tools/model_converters/'
                    'slice_classifier_head.py')
    spec = importlib.util.spec_from_file_location('slice_head_tool', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _classifier(num_classes: int):
    return MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='ResNet_CIFAR', depth=18, base_channels=4,
                      num_stages=1, out_indices=(0, ), strides=(1, ),
                      dilations=(1, )),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=num_classes,
                  in_channels=4)))


@pytest.fixture(scope='module')
def in1k(repo_root, tmp_path_factory):
    """A random 1000-class checkpoint and 1,000 wnids: the 100 of the
    ImageNet-100 list plus 900 made-up ones, written in shuffled order."""
    tmp = tmp_path_factory.mktemp('in1k')
    class_list = osp.join(repo_root, 'mmrazor_udskd/datasets/'
                          'imagenet100_wnids.txt')
    with open(class_list) as f:
        classes = [line.split()[0] for line in f if line.strip()]
    others = set()
    rng = random.Random(0)
    while len(others) < 900:
        wnid = f'n{rng.randrange(10**8):08d}'
        if wnid not in classes:
            others.add(wnid)
    synsets = classes + sorted(others)
    rng.shuffle(synsets)
    synsets_file = tmp / 'LOC_synset_mapping.txt'
    synsets_file.write_text(''.join(f'{w} some name, other name\n'
                                    for w in synsets))
    torch.manual_seed(0)
    model = _classifier(1000).eval()
    with torch.no_grad():
        model.head.fc.bias.normal_()
    ckpt = tmp / 'r_in1k.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(epoch=100)),
               ckpt)
    return dict(model=model, ckpt=str(ckpt), synsets=str(synsets_file),
                wnids=synsets, classes=classes, tmp=tmp)


def _check_sliced(out: str, in1k: dict, indices):
    expected = [sorted(in1k['wnids']).index(w) for w in in1k['classes']]
    assert list(indices) == expected
    small = _classifier(100).eval()
    load_state_dict_exactly(small, out, 'model.teacher_ckpt')
    x = torch.randn(4, 3, 8, 8)
    with torch.no_grad():
        full = in1k['model'](x, mode='tensor')
        sliced = small(x, mode='tensor')
    assert sliced.shape == (4, 100)
    torch.testing.assert_close(sliced, full[:, expected], rtol=0, atol=0)
    saved = torch.load(out, weights_only=True)
    assert saved['meta']['dataset_meta']['classes'] == in1k['classes']


def test_sliced_logits_are_the_full_logits_of_the_classes(repo_root, in1k):
    tool = _tool(repo_root)
    out = str(in1k['tmp'] / 'r_in100.pth')
    indices = tool.main([in1k['ckpt'], out, '--synsets', in1k['synsets']])
    _check_sliced(out, in1k, indices)


def test_wnids_from_an_imagenet_tree(repo_root, in1k, tmp_path):
    for wnid in in1k['wnids']:
        os.makedirs(tmp_path / 'train' / wnid)
    tool = _tool(repo_root)
    out = str(tmp_path / 'out' / 'r_in100.pth')
    indices = tool.main([in1k['ckpt'], out, '--imagenet-root',
                         str(tmp_path)])
    _check_sliced(out, in1k, indices)


def test_errors_name_the_problem(repo_root, in1k, tmp_path):
    tool = _tool(repo_root)
    out = str(tmp_path / 'x.pth')
    short = tmp_path / 'short.txt'
    short.write_text('\n'.join(in1k['wnids'][:999]))
    with pytest.raises(ValueError, match='has 999 wnids'):
        tool.main([in1k['ckpt'], out, '--synsets', str(short)])
    missing = tmp_path / 'missing.txt'
    missing.write_text('\n'.join(w for w in in1k['wnids']
                                 if w != in1k['classes'][3]) + '\nn99999999\n')
    with pytest.raises(ValueError, match=in1k['classes'][3]):
        tool.main([in1k['ckpt'], out, '--synsets', str(missing)])
    with pytest.raises(KeyError, match='head-key'):
        tool.main([in1k['ckpt'], out, '--synsets', in1k['synsets'],
                   '--head-key', 'head.classifier'])
    with pytest.raises(SystemExit):  # one wnid source is required
        tool.main([in1k['ckpt'], out])
    assert not osp.exists(out)
