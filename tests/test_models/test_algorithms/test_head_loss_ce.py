"""The CE term of every student is its head's own loss (mmpretrain
``head.loss``: label smoothing, soft targets of batch augmentation), weighted
by alpha only; the default CrossEntropyLoss gives plain cross-entropy."""
import mmrazor_udskd  # noqa: F401  isort:skip  (before mmrazor)
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from ...helpers.udskd_tiny import (NUM_CLASSES, build_algorithm,
                                               make_batch, tiny_classifier)


def _with_head_loss(loss: dict, ce_weight_of_mbv2: float = 1.0):
    r18 = tiny_classifier(4)
    r18['head']['loss'] = loss
    mbv2 = tiny_classifier(5, ce_weight=ce_weight_of_mbv2)
    return build_algorithm(students=dict(r18=r18, mbv2=mbv2))


def _own_head_loss(student, inputs, data_samples) -> torch.Tensor:
    """What the student's head computes as its loss, through its own API."""
    return student.head.loss(student.extract_feat(inputs),
                             data_samples)['loss']


def _ce_term(model, inputs, data_samples) -> torch.Tensor:
    logits = {n: model.student_logits(n, inputs) for n in model.student_names}
    from mmrazor_udskd.models.utils import ce_targets
    terms, _ = model.distiller.student_losses(
        'r18', logits, model.teacher_logits(inputs), ce_targets(data_samples))
    return terms['loss_ce']


@pytest.mark.parametrize('loss', [
    dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
    dict(type='LabelSmoothLoss', label_smooth_val=0.2, mode='classy_vision'),
    dict(type='CrossEntropyLoss', class_weight=[1.0, 2.0, 0.5, 1.0, 3.0]),
])
def test_ce_term_is_the_heads_own_loss_hard_labels(loss):
    model = _with_head_loss(loss)
    data = model.data_preprocessor(make_batch(8), True)
    inputs, samples = data['inputs'], data['data_samples']
    expected = 0.4 * _own_head_loss(model.r18, inputs, samples)
    got = _ce_term(model, inputs, samples)
    torch.testing.assert_close(got, expected)
    plain = 0.4 * F.cross_entropy(model.student_logits('r18', inputs),
                                  torch.arange(8) % NUM_CLASSES)
    assert abs(got - plain) > 1e-4  # not plain cross-entropy


def test_soft_targets_of_batch_augmentation():
    """Mixup-style ``gt_score`` targets reach the head's loss (mmpretrain's
    soft cross-entropy, and label smoothing of soft targets)."""
    for loss in (dict(type='CrossEntropyLoss', use_soft=True),
                 dict(type='LabelSmoothLoss', label_smooth_val=0.1,
                      use_sigmoid=False, mode='original')):
        model = _with_head_loss(loss)
        batch = make_batch(6)
        gen = torch.Generator().manual_seed(1)
        for sample in batch['data_samples']:
            sample.set_gt_score(torch.rand(NUM_CLASSES, generator=gen)
                                .softmax(0))
        data = model.data_preprocessor(batch, True)
        inputs, samples = data['inputs'], data['data_samples']
        assert 'gt_score' in samples[0]
        expected = 0.4 * _own_head_loss(model.r18, inputs, samples)
        torch.testing.assert_close(_ce_term(model, inputs, samples), expected)


def test_default_cross_entropy_gives_exactly_plain_ce():
    # the shipped configs' head loss: CrossEntropyLoss, loss_weight 1.0
    model = _with_head_loss(dict(type='CrossEntropyLoss', loss_weight=1.0))
    data = model.data_preprocessor(make_batch(8), True)
    logits = model.student_logits('r18', data['inputs']).float()
    labels = torch.arange(8) % NUM_CLASSES
    for name in ('r18', 'mbv2'):
        assert name in model.distiller.ce_losses
        assert torch.equal(model.distiller.ce_loss(name, logits, labels),
                           F.cross_entropy(logits, labels))
    soft = torch.rand(8, NUM_CLASSES).softmax(1)
    assert torch.equal(model.distiller.ce_loss('r18', logits, soft),
                       F.cross_entropy(logits, soft))


def test_head_loss_weight_other_than_one_is_divided_out():
    # the tiny heads have loss_weight 3.0: alpha alone weighs CE
    model = build_algorithm()
    data = model.data_preprocessor(make_batch(8), True)
    logits = model.student_logits('r18', data['inputs']).float()
    labels = torch.arange(8) % NUM_CLASSES
    torch.testing.assert_close(model.distiller.ce_loss('r18', logits, labels),
                               F.cross_entropy(logits, labels))


def test_head_loss_weight_is_not_applied_and_zero_is_refused():
    model = _with_head_loss(dict(type='LabelSmoothLoss',
                                 label_smooth_val=0.1, loss_weight=2.5))
    data = model.data_preprocessor(make_batch(8), True)
    inputs, samples = data['inputs'], data['data_samples']
    torch.testing.assert_close(
        _ce_term(model, inputs, samples),
        0.4 * _own_head_loss(model.r18, inputs, samples) / 2.5)
    with pytest.raises(ValueError, match=r'`model\.students\.mbv2\.head\.loss'
                       r'\.loss_weight` is 0'):
        _with_head_loss(dict(type='CrossEntropyLoss'), ce_weight_of_mbv2=0.0)


def test_data_sample_api_used_by_the_tests():
    assert 'gt_score' in DataSample().set_gt_score(torch.ones(3) / 3)
