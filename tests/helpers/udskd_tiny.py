"""Tiny mmpretrain classifiers and batches shared by the algorithm tests."""
import math
from collections import defaultdict
from typing import Dict, List, Optional

import mmrazor_udskd  # noqa: F401  isort:skip  (before mmrazor)
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

NUM_CLASSES = 5


def tiny_classifier(width: int = 4, ce_weight: float = 1.0) -> dict:
    """A one-stage ResNet_CIFAR ImageClassifier (a few hundred parameters)."""
    return dict(
        _scope_='mmpretrain',
        type='ImageClassifier',
        backbone=dict(type='ResNet_CIFAR', depth=18, base_channels=width,
                      num_stages=1, out_indices=(0, ), strides=(1, ),
                      dilations=(1, )),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=NUM_CLASSES,
                  in_channels=width,
                  loss=dict(type='CrossEntropyLoss', loss_weight=ce_weight)))


def algorithm_cfg(names: List[str] = ('r18', 'mbv2'),
                  **kwargs) -> Dict:
    """A MultiStudentDistill config with tiny nets (head CE weight 3.0, which
    the algorithm must NOT apply: alpha is the only CE weight)."""
    cfg = dict(
        type='MultiStudentDistill',
        teacher=tiny_classifier(8),
        students={
            name: tiny_classifier(4 + i, ce_weight=3.0)
            for i, name in enumerate(names)
        },
        teacher_ckpt='random',
        data_preprocessor=dict(
            type='mmpretrain.ClsDataPreprocessor', num_classes=NUM_CLASSES,
            mean=[127.5] * 3, std=[64.0] * 3))
    cfg.update(kwargs)
    return cfg


def build_algorithm(names: List[str] = ('r18', 'mbv2'), sharpen: bool = True,
                    **kwargs):
    """Build, init and (``sharpen``) scale up the heads so that the
    teacher's confidence weights spread over (0, 1)."""
    from mmrazor.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(algorithm_cfg(names, **kwargs))
    model.init_weights()
    if not sharpen:
        return model
    with torch.no_grad():
        for module in [model.teacher] + list(model.students.values()):
            module.head.fc.weight.normal_(0, 2.0)
    return model


def make_batch(batch_size: int = 8, seed: int = 0,
               labels: Optional[List[int]] = None) -> Dict:
    """A dataloader-style batch of uint8 8x8 images with labels."""
    gen = torch.Generator().manual_seed(seed)
    labels = labels or [i % NUM_CLASSES for i in range(batch_size)]
    return dict(
        inputs=[torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8,
                              generator=gen) for _ in labels],
        data_samples=[DataSample().set_gt_label(y) for y in labels])


def separate_optim(model, names: List[str] = ('r18', 'mbv2'), lr=0.1):
    """One SGD wrapper per student, built as the configs build them."""
    from mmrazor.engine import SeparateOptimWrapperConstructor
    cfg = {n: dict(optimizer=dict(type='SGD', lr=lr, momentum=0.9))
           for n in names}
    return SeparateOptimWrapperConstructor(cfg)(model)


#: the paper's temperature, the algorithm's default
TAU = 4.0


def ref_kl(student: torch.Tensor, target: torch.Tensor,
           tau: float = TAU) -> torch.Tensor:
    """tau^2 KL(softmax(target/tau) || softmax(student/tau)) per sample."""
    p_t = F.softmax(target / tau, dim=1)
    return tau**2 * (p_t * (F.log_softmax(target / tau, dim=1) -
                            F.log_softmax(student / tau, dim=1))).sum(1)


def ref_weight(teacher: torch.Tensor) -> torch.Tensor:
    """w = 1 - H(softmax(z_t)) / log C."""
    p = F.softmax(teacher, dim=1)
    entropy = -(p * p.log()).sum(1)
    return 1 - entropy / math.log(teacher.size(1))


def record_logits(model) -> Dict[str, List[torch.Tensor]]:
    """Forward hooks on the teacher and every student: their logits per
    call (the hook runs once per forward, so len() counts the forwards)."""
    seen: Dict[str, List[torch.Tensor]] = defaultdict(list)
    modules = dict(model.students, teacher=model.teacher)
    for name, module in modules.items():
        module.register_forward_hook(
            lambda mod, args, out, name=name: seen[name].append(
                out.detach().clone()))
    return seen
