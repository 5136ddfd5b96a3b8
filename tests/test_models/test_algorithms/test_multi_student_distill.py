"""MultiStudentDistill (UDSKD, arXiv 2511.18826) on tiny mmpretrain nets."""
from typing import Dict

import mmrazor_udskd  # noqa: F401  isort:skip  (before mmrazor)
import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper
from mmpretrain.structures import DataSample
from mmrazor.registry import MODELS

from ...helpers.udskd_tiny import (NUM_CLASSES, TAU, build_algorithm,
                                   make_batch, record_logits, ref_kl,
                                   ref_weight, separate_optim,
                                   tiny_classifier)


def params_of(module: torch.nn.Module) -> Dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_train_step_loss_matches_hand_computation():
    model = build_algorithm()
    model.train()
    optim = separate_optim(model)
    seen = record_logits(model)
    batch = make_batch(8)
    log = model.train_step(batch, optim)

    assert len(seen['teacher']) == 1
    assert len(seen['r18']) == 1 and len(seen['mbv2']) == 1
    labels = torch.tensor([s.gt_label.item() for s in batch['data_samples']])
    t = seen['teacher'][0]
    w = ref_weight(t)
    assert 0.05 < w.mean() < 0.95  # a spread of confidences
    for name, peer in (('r18', 'mbv2'), ('mbv2', 'r18')):
        s, p = seen[name][0], seen[peer][0]
        ce = 0.4 * F.cross_entropy(s, labels)  # alpha only, not head's 3.0
        kd = 0.4 * (w * ref_kl(s, t)).mean()
        pe = 0.2 * ref_kl(s, p).mean()
        torch.testing.assert_close(log[f'{name}.loss_ce'], ce)
        torch.testing.assert_close(log[f'{name}.loss_teacher'], kd)
        torch.testing.assert_close(log[f'{name}.loss_peer'], pe)
        torch.testing.assert_close(log[f'{name}.loss'], ce + kd + pe)
        assert not log[f'{name}.loss'].requires_grad
    torch.testing.assert_close(log['loss'], log['r18.loss'] + log['mbv2.loss'])
    torch.testing.assert_close(log['stats.weight_mean'], w.mean())
    p1 = F.softmax(t, 1)
    torch.testing.assert_close(log['stats.entropy_t1'],
                               -(p1 * p1.log()).sum(1).mean())
    p4 = F.softmax(t / TAU, 1)
    torch.testing.assert_close(log['stats.entropy_tau'],
                               -(p4 * p4.log()).sum(1).mean())
    torch.testing.assert_close(log['stats.uncertain_ratio'],
                               (w < 0.5).float().mean())
    # the paper's "uncertain share": 1 - mean w, not the share of w < 0.5
    torch.testing.assert_close(log['stats.one_minus_weight_mean'],
                               1 - w.mean())
    assert abs(log['stats.one_minus_weight_mean'] -
               log['stats.uncertain_ratio']) > 1e-3
    assert set(log) == {
        'r18.loss_ce', 'r18.loss_teacher', 'r18.loss_peer', 'r18.loss',
        'mbv2.loss_ce', 'mbv2.loss_teacher', 'mbv2.loss_peer', 'mbv2.loss',
        'loss', 'stats.weight_mean', 'stats.entropy_t1', 'stats.entropy_tau',
        'stats.uncertain_ratio', 'stats.one_minus_weight_mean'
    }


def test_teacher_frozen_students_updated_and_independent():
    model = build_algorithm()
    model.train()
    teacher_before = params_of(model.teacher)
    r18_before = params_of(model.students['r18'])
    mbv2_before = params_of(model.students['mbv2'])
    optim = separate_optim(model)
    # each wrapper holds exactly its own student's parameters
    for name, student in model.students.items():
        held = {id(p) for g in optim[name].optimizer.param_groups
                for p in g['params']}
        assert held == {id(p) for p in student.parameters()}

    assert all(not p.requires_grad for p in model.teacher.parameters())
    bns = [m for m in model.teacher.modules()
           if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(not m.training for m in bns)  # teacher_norm_eval
    assert model.students['r18'].training
    for i in range(3):
        model.train_step(make_batch(8, seed=i), optim)

    for k, v in params_of(model.teacher).items():
        assert torch.equal(v, teacher_before[k]), k  # weights and BN stats
    assert all(not p.requires_grad for p in model.teacher.parameters())
    for before, student in ((r18_before, model.students['r18']),
                            (mbv2_before, model.students['mbv2'])):
        after = params_of(student)
        changed = [k for k in before if not torch.equal(before[k], after[k])]
        assert 'head.fc.weight' in changed
        assert 'backbone.conv1.weight' in changed


def test_peer_gradient_does_not_reach_other_student():
    model = build_algorithm(alpha=0.0, beta=0.0, gamma=1.0)
    model.train()
    # only mbv2 can learn; r18 has lr 0 -> if peer logits were not detached,
    # r18's loss would put gradients into mbv2 and change its momentum path
    optim = separate_optim(model)
    optim['r18'].optimizer.param_groups[0]['lr'] = 0.0
    data = model.data_preprocessor(make_batch(8), True)
    logits = {n: model.student_logits(n, data['inputs'])
              for n in model.student_names}
    targets = model.peer_targets('r18', logits)
    assert len(targets) == 1 and not targets[0].requires_grad
    terms, _ = model.student_losses('r18', logits,
                                    model.teacher_logits(data['inputs']),
                                    torch.zeros(8, dtype=torch.long))
    terms['loss_peer'].backward()
    assert all(p.grad is None for p in model.students['mbv2'].parameters())
    assert model.students['r18'].head.fc.weight.grad.abs().sum() > 0


def test_three_students_same_code():
    names = ['r18', 'mbv2', 'r34']
    model = build_algorithm(names)
    model.train()
    optim = separate_optim(model, names)
    seen = record_logits(model)
    before = {n: params_of(m) for n, m in model.students.items()}
    log = model.train_step(make_batch(8), optim)
    assert [len(seen[n]) for n in names + ['teacher']] == [1, 1, 1, 1]
    for name in names:
        s = seen[name][0]
        peers = [seen[p][0] for p in names if p != name]
        expected = 0.2 * torch.stack([ref_kl(s, p) for p in peers]).mean()
        torch.testing.assert_close(log[f'{name}.loss_peer'], expected)
        after = params_of(model.students[name])
        assert not torch.equal(after['head.fc.weight'],
                               before[name]['head.fc.weight'])
    assert [n for n, _ in model.named_children()][-3:] == names


def test_per_student_weights_and_single_optim_wrapper():
    model = build_algorithm(
        alpha=0.5, beta=0.3, gamma=0.7,
        student_loss_weights=dict(mbv2=dict(gamma=0.0, alpha=1.0)))
    assert model.loss_weights == dict(
        r18=dict(alpha=0.5, beta=0.3, gamma=0.7),
        mbv2=dict(alpha=1.0, beta=0.3, gamma=0.0))
    model.train()
    seen = record_logits(model)
    optim = OptimWrapper(torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.1))
    batch = make_batch(8)
    log = model.train_step(batch, optim)
    labels = torch.tensor([s.gt_label.item() for s in batch['data_samples']])
    assert log['mbv2.loss_peer'] == 0
    torch.testing.assert_close(
        log['mbv2.loss_ce'], F.cross_entropy(seen['mbv2'][0], labels))
    torch.testing.assert_close(
        log['r18.loss_peer'],
        0.7 * ref_kl(seen['r18'][0], seen['mbv2'][0]).mean())

    with pytest.raises(ValueError, match='unknown students'):
        build_algorithm(student_loss_weights=dict(r50=dict(gamma=0.1)))
    with pytest.raises(ValueError, match='may only set'):
        build_algorithm(student_loss_weights=dict(r18=dict(delta=0.1)))


def test_forward_modes():
    model = build_algorithm(predict_with='mbv2')
    model.eval()
    data = model.data_preprocessor(make_batch(6), False)
    with torch.no_grad():
        logits = model(data['inputs'], mode='tensor')
        preds = model(**data, mode='predict')
        expected = model.students['mbv2'](data['inputs'], mode='tensor')
    torch.testing.assert_close(logits, expected)
    assert len(preds) == 6
    torch.testing.assert_close(preds[0].pred_score,
                               F.softmax(expected[0], 0))
    model.train()
    losses = model(**data, mode='loss')
    parsed, _ = model.parse_losses(losses)
    log = model.train_step(make_batch(6), separate_optim(model, lr=0.0))
    torch.testing.assert_close(parsed.detach(), log['loss'])
    assert {'stats.weight_mean', 'r18.loss_ce',
            'mbv2.loss_peer'} <= set(losses)
    with pytest.raises(RuntimeError, match='Invalid mode'):
        model(data['inputs'], mode='nope')


def test_predict_all_ensemble_is_mean_probability():
    model = build_algorithm()
    model.eval()
    batch = make_batch(6)
    with torch.no_grad():
        data = model.data_preprocessor(batch, False)
        out = model.predict_all(**data)
        probs = {n: F.softmax(m(data['inputs'], mode='tensor'), 1)
                 for n, m in model.students.items()}
        t_prob = F.softmax(model.teacher(data['inputs'], mode='tensor'), 1)
    assert list(out) == ['r18', 'mbv2', 'ensemble', 'teacher']
    mean = (probs['r18'] + probs['mbv2']) / 2
    for i in range(6):
        torch.testing.assert_close(out['ensemble'][i].pred_score, mean[i])
        assert out['ensemble'][i].pred_label.item() == mean[i].argmax()
        torch.testing.assert_close(out['r18'][i].pred_score, probs['r18'][i])
        torch.testing.assert_close(out['teacher'][i].pred_score, t_prob[i])
        assert out['mbv2'][i].gt_label.item() == \
            data['data_samples'][i].gt_label.item()
    # one DataSample per model: writing one does not overwrite another
    assert out['r18'][0] is not out['mbv2'][0]
    assert 'pred_score' not in data['data_samples'][0]

    model.val_teacher = False
    with torch.no_grad():
        assert 'teacher' not in model.predict_all(**data)


@pytest.mark.parametrize('names, match', [
    (['r18'], 'students'),
    ([], 'students'),
    (['r18', 'teacher'], 'collides'),
    (['data_preprocessor', 'r18'], 'collides'),
    (['r18', 'peer_loss'], 'collides'),
    (['r18', 'train'], 'collides'),
    (['r18', '1net'], 'identifier'),
    (['r18', 'res.net'], 'identifier'),
])
def test_invalid_student_names(names, match):
    with pytest.raises(ValueError, match=match):
        MODELS.build(dict(
            type='MultiStudentDistill', teacher=tiny_classifier(4),
            teacher_ckpt='random',
            students={n: tiny_classifier(4) for n in names}))


def test_predict_with_must_be_a_student():
    with pytest.raises(ValueError, match='predict_with'):
        build_algorithm(predict_with='teacher')


def test_teacher_ckpt_is_loaded_and_kept(tmp_path):
    teacher = MODELS.build(tiny_classifier(8))
    teacher.init_weights()
    with torch.no_grad():
        teacher.head.fc.bias.fill_(0.123)
    ckpt = str(tmp_path / 'teacher.pth')
    torch.save({'state_dict': teacher.state_dict(), 'meta': {}}, ckpt)
    model = build_algorithm(teacher_ckpt=ckpt, sharpen=False)  # init_weights
    assert model.teacher._is_init
    for k, v in teacher.state_dict().items():
        assert torch.equal(model.teacher.state_dict()[k], v), k


def test_constructor_keys_and_checkpoint_keys_use_student_names():
    model = build_algorithm()
    keys = list(model.state_dict())
    assert any(k.startswith('r18.backbone.') for k in keys)
    assert any(k.startswith('mbv2.head.fc.') for k in keys)
    assert any(k.startswith('teacher.backbone.') for k in keys)
    assert model.r18 is model.students['r18']


def test_data_sample_without_pred_keeps_gt():
    model = build_algorithm()
    model.eval()
    samples = [DataSample().set_gt_label(3)]
    scores = torch.full((1, NUM_CLASSES), 1.0 / NUM_CLASSES)
    out = model._to_predictions(scores, samples)
    assert out[0].gt_label.item() == 3 and out[0].pred_label.item() == 0
    assert 'pred_label' not in samples[0]


def test_forwards_run_under_the_wrappers_context():
    """What AmpOptimWrapper does on a GPU (autocast inside optim_context),
    emulated with CPU bfloat16 autocast: teacher and students run under it,
    the losses are still computed in float32."""
    from contextlib import contextmanager

    class _AutocastWrapper(OptimWrapper):

        @contextmanager
        def optim_context(self, model):
            with super().optim_context(model), torch.autocast(
                    'cpu', dtype=torch.bfloat16):
                yield

    from mmengine.optim import OptimWrapperDict
    model = build_algorithm()
    model.train()
    optim = OptimWrapperDict(**{
        name: _AutocastWrapper(torch.optim.SGD(s.parameters(), lr=0.1))
        for name, s in model.students.items()
    })
    seen = record_logits(model)
    log = model.train_step(make_batch(8), optim)
    assert seen['teacher'][0].dtype == torch.bfloat16
    assert seen['r18'][0].dtype == torch.bfloat16
    assert log['r18.loss'].dtype == torch.float32
    assert all(torch.isfinite(v) for v in log.values())


def test_teacher_from_cfg_path():
    # the cfg_path teacher predicts 1000 classes: the students must too
    students = {}
    for i, name in enumerate(('r18', 'mbv2')):
        student = tiny_classifier(4 + i)
        student['head'] = dict(student['head'], num_classes=1000)
        students[name] = student
    model = build_algorithm(
        sharpen=False,
        teacher=dict(cfg_path='mmpretrain::resnet/resnet18_8xb32_in1k.py',
                     pretrained=False),
        students=students)
    assert type(model.teacher).__name__ == 'ImageClassifier'
    assert model.teacher.head.num_classes == 1000
    assert all(not p.requires_grad for p in model.teacher.parameters())
    assert model.teacher_logits(torch.zeros(1, 3, 32, 32)).shape == (1, 1000)
