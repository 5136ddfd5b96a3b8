"""One source for tau, alpha, beta and gamma: the algorithm's values reach
the losses (``--cfg-options model.tau=2`` changes the loss value) unless a
loss config sets its own on purpose, and they are read at every loss
computation."""
import math
import os.path as osp

import mmrazor_udskd  # noqa: F401  isort:skip  (before mmrazor)
import torch
import torch.nn.functional as F
from mmengine.config import Config, DictAction
from mmrazor.registry import MODELS

from ...helpers.udskd_tiny import NUM_CLASSES, tiny_classifier

from ...conftest import REPO_ROOT as REPO
UDSKD = 'configs/udskd/udskd_logits_resnet50_resnet18-mobilenet-v2_1xb64_cifar10.py'  # noqa: E501


def ref_kl(student, target, tau):
    """tau^2 KL(softmax(target/tau) || softmax(student/tau)) per sample."""
    p_t = F.softmax(target / tau, dim=1)
    return tau**2 * (p_t * (F.log_softmax(target / tau, dim=1) -
                            F.log_softmax(student / tau, dim=1))).sum(1)


def _from_config(*options: str):
    """The shipped CIFAR-10 UDSKD algorithm with ``--cfg-options``, over
    tiny nets (the loss configs are the shipped ones)."""
    cfg = Config.fromfile(osp.join(REPO, UDSKD))
    # what tools/train.py does with --cfg-options key=value
    parsed = (opt.split('=', 1) for opt in options)
    cfg.merge_from_dict({k: DictAction._parse_iterable(v) for k, v in parsed})
    model = cfg.model.to_dict()
    model.update(teacher=tiny_classifier(8), teacher_ckpt='random',
                 students=dict(r18=tiny_classifier(4),
                               mbv2=tiny_classifier(5)))
    return MODELS.build(model)


def _logits(seed=0):
    gen = torch.Generator().manual_seed(seed)
    logits = {n: 3 * torch.randn(6, NUM_CLASSES, generator=gen)
              for n in ('r18', 'mbv2')}
    teacher = 3 * torch.randn(6, NUM_CLASSES, generator=gen)
    return logits, teacher, torch.arange(6) % NUM_CLASSES


def _expected(logits, teacher, tau):
    s, p = logits['r18'], logits['mbv2']
    prob = F.softmax(teacher, 1)
    w = 1 - (-(prob * prob.log()).sum(1)) / math.log(NUM_CLASSES)
    return 0.4 * (w * ref_kl(s, teacher, tau)).mean(), \
        0.2 * ref_kl(s, p, tau).mean()


def test_shipped_loss_configs_set_no_tau_of_their_own():
    model = Config.fromfile(osp.join(REPO, UDSKD)).model
    assert 'tau' not in model.teacher_loss and 'tau' not in model.peer_loss
    assert model.tau == 4.0


def test_cfg_option_model_tau_changes_the_loss_value():
    logits, teacher, targets = _logits()
    values = {}
    for tau in (4.0, 2.0):
        model = _from_config(f'model.tau={tau:g}')  # 'model.tau=2'
        assert model.teacher_loss.tau == model.peer_loss.tau == tau
        terms, _ = model.distiller.student_losses('r18', logits, teacher,
                                                  targets)
        kd, peer = _expected(logits, teacher, tau)
        torch.testing.assert_close(terms['loss_teacher'], kd)
        torch.testing.assert_close(terms['loss_peer'], peer)
        values[tau] = terms['loss_teacher'] + terms['loss_peer']
    assert abs(values[2.0] - values[4.0]) > 1e-3


def test_a_loss_that_sets_its_own_tau_keeps_it():
    model = _from_config('model.tau=2.0', 'model.peer_loss.tau=3.0')
    assert model.teacher_loss.tau == 2.0 and model.peer_loss.tau == 3.0
    assert model.distiller.tau_followers == ['teacher_loss']
    model.distiller.tau = 5.0  # e.g. a hook between iterations
    assert model.tau == 5.0
    assert model.teacher_loss.tau == 5.0 and model.peer_loss.tau == 3.0


def test_weights_are_read_at_every_loss_computation():
    model = _from_config('model.student_loss_weights.mbv2.gamma=0.1')
    distiller = model.distiller
    assert (distiller.alpha, distiller.beta, distiller.gamma) == \
        (0.4, 0.4, 0.2)
    logits, teacher, targets = _logits(1)
    before, _ = distiller.student_losses('r18', logits, teacher, targets)
    distiller.alpha, distiller.beta, distiller.gamma = 0.8, 0.1, 0.5
    after, _ = distiller.student_losses('r18', logits, teacher, targets)
    for key, old, new in (('loss_ce', 0.4, 0.8), ('loss_teacher', 0.4, 0.1),
                          ('loss_peer', 0.2, 0.5)):
        torch.testing.assert_close(after[key], before[key] / old * new)
    # the per-student override stays; the rest follow the attributes
    assert model.loss_weights == dict(
        r18=dict(alpha=0.8, beta=0.1, gamma=0.5),
        mbv2=dict(alpha=0.8, beta=0.1, gamma=0.1))
