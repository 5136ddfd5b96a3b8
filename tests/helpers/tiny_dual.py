"""Shared builders of the tiny dual-student model (speed options, peer mode,
activation checkpoint and benchmark tests)."""
import importlib.util
import os.path as osp
from types import ModuleType
from typing import Dict, Iterable, List, Tuple

import mmrazor_udskd  # noqa: F401  isort:skip  (before mmrazor)
import torch
from mmengine.optim import OptimWrapperDict, build_optim_wrapper
from mmpretrain.structures import DataSample
from mmrazor.registry import MODELS
from torch import nn

__all__ = [
    'REPO_ROOT', 'TINY_CLASSES', 'load_benchmark_tool', 'tiny_net',
    'tiny_dual_cfg', 'build_tiny_dual', 'separate_sgd', 'tiny_batch',
    'sharpen_teacher', 'assert_logs_close', 'student_params'
]

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: classes of the tiny nets
TINY_CLASSES = 6


def load_benchmark_tool() -> ModuleType:
    """Import ``tools/benchmark_throughput.py`` as a module.

    Returns:
        ModuleType: The module.
    """
    path = osp.join(REPO_ROOT, 'tools', 'benchmark_throughput.py')
    spec = importlib.util.spec_from_file_location('benchmark_throughput',
                                                  path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_net(width: int) -> dict:
    """An mmpretrain classifier with a few thousand parameters (one
    ResNet_CIFAR stage with BatchNorm, pooled, linear head).

    Args:
        width (int): Channels of the stage.

    Returns:
        dict: The model config.
    """
    return dict(
        _scope_='mmpretrain',
        type='ImageClassifier',
        backbone=dict(type='ResNet_CIFAR', depth=18, base_channels=width,
                      num_stages=1, out_indices=(0, ), strides=(1, ),
                      dilations=(1, )),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=TINY_CLASSES,
                  in_channels=width,
                  loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))


def tiny_dual_cfg(**kwargs) -> dict:
    """A ``MultiStudentDistill`` config over tiny nets (students ``r18`` and
    ``mbv2``) with the UDSKD defaults.

    Args:
        **kwargs: Extra or overriding model fields.

    Returns:
        dict: The config.
    """
    cfg = dict(
        _scope_='mmrazor',
        type='MultiStudentDistill',
        teacher=tiny_net(8),
        students=dict(r18=tiny_net(4), mbv2=tiny_net(5)),
        teacher_ckpt='random',
        data_preprocessor=dict(
            type='mmpretrain.ClsDataPreprocessor', num_classes=TINY_CLASSES,
            mean=[127.5] * 3, std=[64.0] * 3, to_rgb=True))
    cfg.update(kwargs)
    return cfg


def sharpen_teacher(model: nn.Module, std: float = 2.0) -> None:
    """Scale up the teacher head so that its confidence weights spread over
    (0, 1) and the teacher term is not ~0.

    Args:
        model (nn.Module): A ``MultiStudentDistill``.
        std (float): Std of the new head weights. Defaults to 2.0.
    """
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        fc = model.teacher.head.fc
        fc.weight.copy_(torch.randn(fc.weight.shape, generator=gen) * std)


def build_tiny_dual(seed: int = 0, **kwargs) -> nn.Module:
    """Build and initialise the tiny dual model (teacher sharpened).

    Args:
        seed (int): Initialisation seed. Defaults to 0.
        **kwargs: Extra model fields.

    Returns:
        nn.Module: The model in train mode.
    """
    torch.manual_seed(seed)
    model = MODELS.build(tiny_dual_cfg(**kwargs))
    model.init_weights()
    sharpen_teacher(model)
    model.train()
    return model


def separate_sgd(model: nn.Module, wrapper_type: str = 'OptimWrapper',
                 **wrapper_kwargs) -> OptimWrapperDict:
    """One SGD wrapper per student, through MMRazor's
    ``SeparateOptimWrapperConstructor`` (as the UDSKD configs build them).

    Args:
        model (nn.Module): A ``MultiStudentDistill``.
        wrapper_type (str): Optimizer wrapper type. Defaults to
            ``'OptimWrapper'``.
        **wrapper_kwargs: Extra wrapper fields (e.g. ``dtype``).

    Returns:
        OptimWrapperDict: The wrappers.
    """
    optimizer = dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4)
    cfg = dict(constructor='mmrazor.SeparateOptimWrapperConstructor')
    for name in model.student_names:
        cfg[name] = dict(type=wrapper_type, optimizer=optimizer,
                         **wrapper_kwargs)
    return build_optim_wrapper(model, cfg)


def tiny_batch(batch_size: int = 4, resolution: int = 8,
               num_classes: int = TINY_CLASSES, seed: int = 0) -> dict:
    """A dataloader-style batch of uint8 images with labels.

    Args:
        batch_size (int): Images. Defaults to 4.
        resolution (int): Height and width. Defaults to 8.
        num_classes (int): Label range. Defaults to ``TINY_CLASSES``.
        seed (int): Seed. Defaults to 0.

    Returns:
        dict: ``inputs`` and ``data_samples``.
    """
    gen = torch.Generator().manual_seed(seed)
    return dict(
        inputs=[torch.randint(0, 256, (3, resolution, resolution),
                              dtype=torch.uint8, generator=gen)
                for _ in range(batch_size)],
        data_samples=[DataSample().set_gt_label(i % num_classes)
                      for i in range(batch_size)])


def assert_logs_close(a: Dict[str, torch.Tensor],
                      b: Dict[str, torch.Tensor], atol: float,
                      rtol: float = 0.0) -> None:
    """Two ``train_step`` log dicts have the same keys and close values.

    Args:
        a (Dict[str, Tensor]): First log dict.
        b (Dict[str, Tensor]): Second log dict.
        atol (float): Absolute tolerance.
        rtol (float): Relative tolerance. Defaults to 0.
    """
    assert set(a) == set(b)
    for key in a:
        va, vb = float(a[key]), float(b[key])
        assert abs(va - vb) <= atol + rtol * abs(vb), (key, va, vb)


def student_params(model: nn.Module,
                   names: Iterable[str] = ('r18', 'mbv2')
                   ) -> List[Tuple[str, torch.Tensor]]:
    """The students' parameters by qualified name.

    Args:
        model (nn.Module): A ``MultiStudentDistill``.
        names (Iterable[str]): Student names.

    Returns:
        List[Tuple[str, Tensor]]: ``(name, parameter)`` pairs.
    """
    return [(f'{n}.{k}', p) for n in names
            for k, p in model.students[n].named_parameters()]
