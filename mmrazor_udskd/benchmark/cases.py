"""The benchmark's timed cases: the three runs' training steps, the dual
run's components (the floor) and the validation passes."""
import contextlib
from typing import Any, Dict, List, Tuple

import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper
from torch import nn

from ..models.utils.precision import precision_context
from .memory import state_bytes
from .timing import Case

__all__ = ['build_cases']


def _autocast(device: torch.device,
              amp: str) -> contextlib.AbstractContextManager:
    """Autocast for the validation cases (``'none'``/``'fp32'``: a no-op).

    Args:
        device (torch.device): Device.
        amp (str): ``'none'``, ``'fp32'``, ``'fp16'`` or ``'bf16'``.

    Returns:
        contextlib.AbstractContextManager: The context.
    """
    if amp in ('none', 'fp32'):
        return contextlib.nullcontext()
    dtype = torch.float16 if amp == 'fp16' else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype)


def build_cases(models: Dict[str, Tuple[nn.Module, OptimWrapper]],
                data: dict, device: torch.device, amp: str,
                with_val: bool) -> List[Case]:
    """The timed cases, in the order they are interleaved.

    Args:
        models (Dict[str, Tuple[nn.Module, OptimWrapper]]): ``kd_r18``,
            ``kd_mbv2`` and ``dual`` with their optimizer wrappers.
        data (dict): The batch.
        device (torch.device): Device.
        amp (str): Autocast of the validation cases: ``'none'``,
            ``'fp16'`` or ``'bf16'``. The training cases run in the
            precision their models and wrappers were built with.
        with_val (bool): Add the validation cases.

    Returns:
        List[Case]: The cases.
    """
    cases = []
    for name in ('kd_r18', 'kd_mbv2', 'dual'):
        model, wrapper = models[name]
        cases.append(Case(
            name, run=lambda m=model, w=wrapper: m.train_step(data, w),
            static_bytes=state_bytes(model, wrapper)))

    dual, dual_wrappers = models['dual']
    first = dual_wrappers[dual.student_names[0]]
    with torch.no_grad():
        pre = dual.data_preprocessor(data, True)
    inputs = dual._prepare_inputs(pre['inputs'])
    targets = dual._targets(pre['data_samples'])

    # the teacher's context of MultiStudentDistill.train_step
    teacher_precision = getattr(dual, 'teacher_precision', None)

    def teacher_fwd() -> torch.Tensor:
        context = (first.optim_context(dual.teacher)
                   if teacher_precision is None else
                   precision_context(teacher_precision, inputs.device.type))
        with context:
            return dual.teacher_logits(inputs)

    def student_step(name: str) -> None:
        wrapper = dual_wrappers[name]
        with wrapper.optim_context(dual._modules[name]):
            logits = dual.student_logits(name, inputs)
        wrapper.update_params(F.cross_entropy(logits.float(), targets))

    kd_mbv2, kd_mbv2_wrapper = models['kd_mbv2']

    def plain_mbv2_step() -> None:
        # the same step on (b)'s student: the plain floor when the dual
        # config recomputes MBv2 activations (model.activation_checkpoint)
        with kd_mbv2_wrapper.optim_context(kd_mbv2.architecture):
            logits = kd_mbv2.architecture(inputs, mode='tensor')
        kd_mbv2_wrapper.update_params(
            F.cross_entropy(logits.float(), targets))

    cases += [
        Case('teacher_fwd', run=teacher_fwd),
        Case('r18_step', run=lambda: student_step('r18')),
        Case('mbv2_step', run=lambda: student_step('mbv2')),
        Case('mbv2_step_plain', run=plain_mbv2_step),
        Case('preprocess', run=lambda: dual.data_preprocessor(data, True)),
    ]
    if not with_val:
        return cases

    kd, _ = models['kd_r18']

    def val_single() -> Any:
        with torch.no_grad(), _autocast(device, amp):
            return kd.val_step(data)

    def val_kd() -> Any:
        # SingleTeacherDistillValLoop: the student's pass, then the
        # teacher's pass over the same batch
        with torch.no_grad(), _autocast(device, amp):
            kd.val_step(data)
            return kd.teacher.val_step(data)

    def val_dual() -> Any:
        # MultiModelValLoop.run_iter
        with torch.no_grad(), _autocast(device, amp):
            batch = dual.data_preprocessor(data, False)
            return dual.predict_all(**batch)

    teacher_flag = dual.val_teacher

    def students_only() -> None:
        dual.eval()
        dual.val_teacher = False

    def restore_teacher() -> None:
        dual.val_teacher = teacher_flag
        dual.train()

    cases += [
        Case('val_single', run=val_single, setup=kd.eval, teardown=kd.train),
        Case('val_kd', run=val_kd, setup=kd.eval, teardown=kd.train),
        Case('val_dual_students', run=val_dual, setup=students_only,
             teardown=restore_teacher),
        Case('val_dual', run=val_dual, setup=dual.eval,
             teardown=dual.train),
    ]
    return cases


