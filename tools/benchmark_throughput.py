"""Training and validation cost of dual-student UDSKD against MMRazor's KD.

Builds, from the repository's real configs (``Config.fromfile`` +
``MODELS.build`` + the config's ``optim_wrapper`` through mmengine's
``build_optim_wrapper``),

* ``kd_r18``: MMRazor's built-in ``SingleTeacherDistill`` KD, R50 -> R18
  (``configs/kd/kd_logits_resnet50_resnet18_8xb8_in100.py``),
* ``kd_mbv2``: the same, R50 -> MobileNetV2
  (``configs/kd/kd_logits_resnet50_mobilenet-v2_8xb8_in100.py``),
* ``dual``: UDSKD, R50 -> R18 + MobileNetV2 in one ``MultiStudentDistill``
  (``configs/udskd/udskd_logits_resnet50_resnet18-mobilenet-v2_8xb8_in100
  .py``),

and times full training iterations (``model.train_step(data,
optim_wrapper)``) on one batch held in memory, so the model side is measured
and not the data loading. All cases run in ONE process, interleaved
(``A B C ... A B C ...``) after a warm-up, and the medians over the rounds
are reported, so slow drifts of the machine's load hit every case alike.

Besides the three runs it times the component floor of the dual run, using
the dual model's own modules and optimizer wrappers: the teacher forward
alone (``teacher_fwd``) and each student's forward + backward + SGD step
with a plain cross-entropy (``r18_step``, ``mbv2_step``), and reports the
floor ratio ``(teacher_fwd + r18_step + mbv2_step) / (teacher_fwd +
r18_step)`` next to the measured ``dual / kd_r18``. Validation: one
``predict_all`` (every student, the ensemble and the teacher) against
MMRazor's KD validation (student predict + teacher predict) and against a
single student's predict.

Peak memory per case: on CUDA ``torch.cuda.max_memory_allocated`` (reset
before each measurement) above the allocation before it; on CPU the rise of
the process's resident set (``VmHWM`` after resetting it through
``/proc/self/clear_refs``, after ``malloc_trim``) above its value before the
step, and, free of what the C allocator keeps or fragments, the peak bytes in
tensors from the profiler's allocation record (one more profiled run; the
CPU counterpart of the CUDA counter). ``static`` is the bytes every run keeps
between steps (parameters, buffers, optimizer state); ``static + peak``
estimates a separate training process's model-side peak.

Usage::

    python tools/benchmark_throughput.py [--batch-size 16] [--resolution 224]
        [--device cpu|cuda] [--amp none|fp16|bf16] [--channels-last]
        [--compile] [--repeats 5] [--warmup 1] [--threads 2]
        [--dual-config CONFIG] [--dual-options key=value ...]
        [--malloc retain|default] [--no-val]
        [--json out.json]

``--malloc retain`` (the default) applies on the CPU what training does
through ``CPUMallocHook`` in the configs' runtime: glibc keeps freed memory
for reuse instead of page-faulting every step's activations in again
(``mmrazor_udskd.utils.malloc``); ``--malloc default`` leaves the
allocator as it is, to measure that cost.
"""
import argparse
import contextlib
import gc
import json
import math
import os
import os.path as osp
import platform
import re
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from typing import (Any, Callable, Dict, Iterator, List, Optional, Sequence,
                    Tuple)

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmrazor_udskd  # noqa: E402,F401  isort:skip  (patches + registries)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402
from mmengine.optim import (OptimWrapper, OptimWrapperDict,  # noqa: E402
                            build_optim_wrapper)
from mmpretrain.structures import DataSample  # noqa: E402
from mmrazor.registry import MODELS  # noqa: E402
from torch import nn  # noqa: E402

from mmrazor_udskd.utils import enable_amp  # noqa: E402
from mmrazor_udskd.utils.memory import peak_tensor_bytes  # noqa: E402
from mmrazor_udskd.utils.malloc import (malloc_trim,  # noqa: E402
                                        retain_freed_memory)

__all__ = [
    'CONFIGS', 'Case', 'MemoryProbe', 'build_from_config', 'make_batch',
    'state_bytes', 'time_interleaved', 'measure_memory',
    'measure_tensor_memory', 'summarize',
    'to_markdown', 'run_benchmark', 'parse_args', 'main'
]

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

#: the three runs compared, by case name
CONFIGS: Dict[str, str] = {
    'kd_r18': 'configs/kd/kd_logits_resnet50_resnet18_8xb8_in100.py',
    'kd_mbv2': 'configs/kd/kd_logits_resnet50_mobilenet-v2_8xb8_in100.py',
    'dual': 'configs/udskd/'
    'udskd_logits_resnet50_resnet18-mobilenet-v2_8xb8_in100.py',
}

#: what each case measures (for the table)
DESCRIPTIONS: Dict[str, str] = {
    'kd_r18': '(a) MMRazor KD R50->R18, train_step',
    'kd_mbv2': '(b) MMRazor KD R50->MBv2, train_step',
    'dual': '(c) UDSKD R50->R18+MBv2, train_step',
    'teacher_fwd': 'component: R50 teacher forward (no grad)',
    'r18_step': 'component: R18 fwd+bwd+SGD step',
    'mbv2_step': 'component: MBv2 fwd+bwd+SGD step',
    'mbv2_step_plain': 'component: MBv2 step of (b)\'s student (no '
                       'recomputation)',
    'preprocess': 'component: data preprocessor',
    'val_single': 'val: one student predict (KD R18 val_step)',
    'val_kd': 'val: KD loop (student + teacher predict)',
    'val_dual_students': 'val: predict_all, students + ensemble',
    'val_dual': 'val: predict_all, students + ensemble + teacher',
}

_MiB = float(2**20)


@dataclass
class Case:
    """One timed unit of work.

    Args:
        name (str): Case name (a key of :data:`DESCRIPTIONS`).
        run (Callable[[], Any]): The work that is timed.
        setup (Callable[[], None], optional): Untimed, before each ``run``.
        teardown (Callable[[], None], optional): Untimed, after each
            ``run``.
        static_bytes (int): Bytes the case's run keeps between iterations
            (parameters, buffers, optimizer state); 0 for components.
    """

    name: str
    run: Callable[[], Any]
    setup: Optional[Callable[[], None]] = None
    teardown: Optional[Callable[[], None]] = None
    static_bytes: int = 0

    def __call__(self, device: torch.device) -> Tuple[float, float]:
        """Run once; return the seconds ``run`` took (device synced).

        Args:
            device (torch.device): Device to synchronise.

        Returns:
            Tuple[float, float]: Wall-clock seconds and CPU seconds of this
            process (all its threads) of ``run``.
        """
        if self.setup is not None:
            self.setup()
        _sync(device)
        start, cpu_start = time.perf_counter(), time.process_time()
        self.run()
        _sync(device)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu_start
        if self.teardown is not None:
            self.teardown()
        return elapsed, cpu


def _sync(device: torch.device) -> None:
    """Wait for the device's queued work (no-op on CPU).

    Args:
        device (torch.device): The device.
    """
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


# ----------------------------------------------------------------------
# memory
# ----------------------------------------------------------------------
def _proc_status() -> Dict[str, int]:
    """``Vm*`` fields of ``/proc/self/status`` in bytes (empty if absent).

    Returns:
        Dict[str, int]: e.g. ``VmRSS``, ``VmHWM``.
    """
    try:
        with open('/proc/self/status') as fh:
            text = fh.read()
    except OSError:
        return {}
    return {k: int(v) * 1024 for k, v in
            re.findall(r'^(Vm\w+):\s+(\d+)\s+kB', text, flags=re.M)}


class MemoryProbe:
    """Peak memory of a piece of work above the memory in use before it.

    CUDA: ``torch.cuda.max_memory_allocated`` after
    ``reset_peak_memory_stats``, minus ``memory_allocated`` before. CPU:
    torch's CPU allocator keeps no statistics and ``tracemalloc`` does not
    see its allocations, so the process's resident set is used: freed heap
    memory is handed back (``malloc_trim``), the peak-RSS counter is reset
    by writing ``5`` to ``/proc/self/clear_refs`` (Linux >= 4.0), and the
    result is ``VmHWM`` after the work minus ``VmRSS`` before it.

    Args:
        device (torch.device): Where the work runs.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._base = 0

    @property
    def available(self) -> bool:
        """Whether this platform can measure (CUDA, or Linux procfs)."""
        if self.device.type == 'cuda':
            return True
        return bool(_proc_status()) and os.access('/proc/self/clear_refs',
                                                  os.W_OK)

    def start(self) -> None:
        """Mark the baseline."""
        gc.collect()
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            return
        malloc_trim()  # a no-op without glibc
        with open('/proc/self/clear_refs', 'w') as fh:
            fh.write('5')
        self._base = _proc_status()['VmRSS']

    def stop(self) -> int:
        """Bytes of the peak above the baseline.

        Returns:
            int: Peak rise in bytes (>= 0).
        """
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
        else:
            peak = _proc_status()['VmHWM']
        return max(peak - self._base, 0)


def state_bytes(model: nn.Module,
                optim_wrapper: Optional[OptimWrapper] = None) -> int:
    """Bytes of parameters, buffers and optimizer state (unique storages).

    Args:
        model (nn.Module): The model.
        optim_wrapper (OptimWrapper | OptimWrapperDict, optional): Its
            optimizer wrapper(s).

    Returns:
        int: Total bytes.
    """
    seen = set()
    total = 0

    def add(tensor: torch.Tensor) -> None:
        nonlocal total
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        if key not in seen:
            seen.add(key)
            total += storage.nbytes()

    for tensor in list(model.parameters()) + list(model.buffers()):
        add(tensor)
    if optim_wrapper is not None:
        wrappers = (optim_wrapper.values() if isinstance(
            optim_wrapper, OptimWrapperDict) else [optim_wrapper])
        for wrapper in wrappers:
            for state in wrapper.optimizer.state.values():
                for value in state.values():
                    if isinstance(value, torch.Tensor):
                        add(value)
    return total


# ----------------------------------------------------------------------
# building
# ----------------------------------------------------------------------
@contextlib.contextmanager
def _cpu_amp_allowed() -> Iterator[None]:
    """Let mmengine build ``AmpOptimWrapper`` on a CPU-only machine.

    ``AmpOptimWrapper.__init__`` asserts a GPU/NPU/MLU. With none present,
    its ``GradScaler`` disables itself (no loss scaling, which bf16 does not
    need) and its ``optim_context`` enters CPU bf16 autocast.
    """
    from mmengine.optim.optimizer import amp_optimizer_wrapper as amp_mod
    original = amp_mod.is_cuda_available
    amp_mod.is_cuda_available = lambda: True
    try:
        yield
    finally:
        amp_mod.is_cuda_available = original


def _amp_optim_cfg(cfg: Config, amp: str) -> None:
    """Switch every optimizer wrapper of ``cfg`` to AMP, as ``tools/train.py
    --amp`` does (``enable_amp``), with the autocast dtype set.

    Args:
        cfg (Config): The config, changed in place.
        amp (str): ``'fp16'`` or ``'bf16'``.
    """
    enable_amp(cfg)
    dtype = dict(fp16='float16', bf16='bfloat16')[amp]
    wrapper = cfg.optim_wrapper
    # the wrapper itself (single or the students' default) and any
    # per-student entry or override
    entries = [wrapper] + [v for v in wrapper.values() if isinstance(v, dict)]
    for entry in entries:
        if entry.get('type') == 'AmpOptimWrapper':
            entry['dtype'] = dtype


def _to_channels_last(model: nn.Module) -> None:
    """Put a KD baseline (MMRazor's algorithm, which has no such option)
    in channels-last: its 4-D weights and its preprocessors' outputs.

    Args:
        model (nn.Module): A ``SingleTeacherDistill``.
    """
    model.to(memory_format=torch.channels_last)
    preprocessors = [model.data_preprocessor]
    teacher_pre = getattr(model.teacher, 'data_preprocessor', None)
    if teacher_pre is not None:
        preprocessors.append(teacher_pre)
    for pre in preprocessors:
        original = pre.forward

        def forward(data: dict, training: bool = False,
                    _original: Callable = original) -> dict:
            out = _original(data, training)
            out['inputs'] = out['inputs'].contiguous(
                memory_format=torch.channels_last)
            return out

        pre.forward = forward


def build_from_config(
        path: str, device: torch.device, amp: str = 'none',
        channels_last: bool = False, compile_: bool = False,
        model_options: Optional[dict] = None, seed: int = 0
) -> Tuple[nn.Module, OptimWrapper, Config]:
    """Build a config's model and its optimizer wrapper(s) as the runner
    does (the top-level ``data_preprocessor`` goes into the model).

    Args:
        path (str): Config path, relative to the repository root or
            absolute.
        device (torch.device): Device for the model.
        amp (str): ``'none'``, ``'fp16'`` or ``'bf16'``.
        channels_last (bool): Channels-last weights and inputs. For
            ``MultiStudentDistill`` through its ``memory_format`` kwarg.
        compile_ (bool): ``torch.compile`` the networks. For
            ``MultiStudentDistill`` through its ``torch_compile`` kwarg.
        model_options (dict, optional): Extra ``model`` fields (only for
            ``MultiStudentDistill``). Defaults to None.
        seed (int): Seed for the weight initialisation. Defaults to 0.

    Returns:
        Tuple[nn.Module, OptimWrapper | OptimWrapperDict, Config]: The model
        (train mode, on ``device``), its optimizer wrapper(s), the config.
    """
    cfg = Config.fromfile(path if osp.isabs(path) else osp.join(REPO_ROOT,
                                                                path))
    model_cfg = cfg.model
    # speed does not depend on the teacher's weights: a random teacher on
    # purpose unless a checkpoint is given
    model_cfg.setdefault('teacher_ckpt', None)
    model_cfg['teacher_ckpt'] = model_cfg['teacher_ckpt'] or 'random'
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    ours = model_cfg.get('type') == 'MultiStudentDistill'
    if ours:
        if channels_last:
            model_cfg['memory_format'] = 'channels_last'
        if compile_:
            model_cfg['torch_compile'] = True
        # dotted keys reach nested fields, as --cfg-options does, e.g.
        # students.mbv2.backbone.with_cp=True
        cfg.merge_from_dict({f'model.{k}': v
                             for k, v in (model_options or {}).items()})
        model_cfg = cfg.model
    torch.manual_seed(seed)
    model = MODELS.build(model_cfg)
    model.init_weights()
    model.to(device)
    if not ours:
        if channels_last:
            _to_channels_last(model)
        if compile_:
            model.architecture.compile()
            model.teacher.compile()
    model.train()
    if amp != 'none':
        _amp_optim_cfg(cfg, amp)
    amp_ctx = (_cpu_amp_allowed() if amp != 'none' and device.type == 'cpu'
               else contextlib.nullcontext())
    with amp_ctx:
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    return model, optim_wrapper, cfg


def make_batch(batch_size: int, resolution: int, num_classes: int,
               seed: int = 0) -> dict:
    """A dataloader-style batch: uint8 images and labelled samples.

    Args:
        batch_size (int): Images in the batch.
        resolution (int): Height and width.
        num_classes (int): Labels are drawn from ``range(num_classes)``.
        seed (int): Random seed. Defaults to 0.

    Returns:
        dict: ``inputs`` (list of ``(3, H, W)`` uint8 tensors) and
        ``data_samples`` (``DataSample`` with ``gt_label``).
    """
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, num_classes, (batch_size, ), generator=gen)
    return dict(
        inputs=[torch.randint(0, 256, (3, resolution, resolution),
                              dtype=torch.uint8, generator=gen)
                for _ in range(batch_size)],
        data_samples=[DataSample().set_gt_label(int(y)) for y in labels])


# ----------------------------------------------------------------------
# cases
# ----------------------------------------------------------------------
def _autocast(device: torch.device,
              amp: str) -> contextlib.AbstractContextManager:
    """Autocast for the validation cases (``amp='none'``: a no-op).

    Args:
        device (torch.device): Device.
        amp (str): ``'none'``, ``'fp16'`` or ``'bf16'``.

    Returns:
        contextlib.AbstractContextManager: The context.
    """
    if amp == 'none':
        return contextlib.nullcontext()
    dtype = torch.float16 if amp == 'fp16' else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype)


def _build_cases(models: Dict[str, Tuple[nn.Module, OptimWrapper]],
                 data: dict, device: torch.device, amp: str,
                 with_val: bool) -> List[Case]:
    """The timed cases, in the order they are interleaved.

    Args:
        models (Dict[str, Tuple[nn.Module, OptimWrapper]]): ``kd_r18``,
            ``kd_mbv2`` and ``dual`` with their optimizer wrappers.
        data (dict): The batch.
        device (torch.device): Device.
        amp (str): AMP mode (for the validation cases).
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

    def teacher_fwd() -> torch.Tensor:
        with first.optim_context(dual.teacher):
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


def time_interleaved(
    cases: Sequence[Case], repeats: int, warmup: int, device: torch.device,
    log: Optional[Callable[[str], None]] = None
) -> Tuple[Dict[str, List[float]], Dict[str, List[float]]]:
    """Time every case ``repeats`` times, interleaved, after ``warmup``
    interleaved untimed rounds. Round ``r`` starts at case ``r mod
    len(cases)`` (rotated order).

    Args:
        cases (Sequence[Case]): The cases, run in this order every round.
        repeats (int): Timed rounds.
        warmup (int): Untimed rounds first.
        device (torch.device): Device to synchronise.
        log (Callable[[str], None], optional): Progress printer.

    Returns:
        Tuple[Dict[str, List[float]], Dict[str, List[float]]]: Wall-clock
        and process CPU seconds per round, by case name.
    """
    for round_idx in range(warmup):
        for case in cases:
            case(device)
        if log:
            log(f'warm-up round {round_idx + 1}/{warmup} done')
    times: Dict[str, List[float]] = {case.name: [] for case in cases}
    cpu_times: Dict[str, List[float]] = {case.name: [] for case in cases}
    for round_idx in range(repeats):
        # rotate the order each round (A B C, B C A, C A B, ...) so that no
        # case always follows the same one
        shift = round_idx % len(cases)
        for case in list(cases[shift:]) + list(cases[:shift]):
            wall, cpu = case(device)
            times[case.name].append(wall)
            cpu_times[case.name].append(cpu)
        if log:
            log(f'round {round_idx + 1}/{repeats}: ' + ', '.join(
                f'{k} {v[-1] * 1e3:.0f}' for k, v in times.items()) + ' ms')
    return times, cpu_times


def measure_memory(cases: Sequence[Case], device: torch.device,
                   runs: int = 2) -> Dict[str, Optional[int]]:
    """Peak memory rise of each case (the largest of ``runs`` runs).

    Args:
        cases (Sequence[Case]): The cases.
        device (torch.device): Device.
        runs (int): Runs per case. Defaults to 2.

    Returns:
        Dict[str, int | None]: Bytes by case name; None where the platform
        cannot measure.
    """
    probe = MemoryProbe(device)
    if not probe.available:
        return {case.name: None for case in cases}

    def measure(run: Callable[[], Any]) -> int:
        probe.start()
        run()
        return probe.stop()

    return _largest_per_case(cases, measure, runs)


def _largest_per_case(cases: Sequence[Case],
                      measure: Callable[[Callable[[], Any]], int],
                      runs: int = 1) -> Dict[str, Optional[int]]:
    """``measure(case.run)`` between each case's setup and teardown, the
    largest of ``runs`` results per case.

    Args:
        cases (Sequence[Case]): The cases.
        measure (Callable): Runs the work it is given and returns bytes.
        runs (int): Runs per case. Defaults to 1.

    Returns:
        Dict[str, int | None]: Bytes by case name.
    """
    peaks: Dict[str, Optional[int]] = {}
    for case in cases:
        best = 0
        for _ in range(runs):
            if case.setup is not None:
                case.setup()
            best = max(best, measure(case.run))
            if case.teardown is not None:
                case.teardown()
        peaks[case.name] = best
    return peaks


def measure_tensor_memory(cases: Sequence[Case], device: torch.device
                          ) -> Dict[str, Optional[int]]:
    """CPU: peak bytes in tensors of each case, from the profiler's
    allocation record (``mmrazor_udskd.utils.memory``): what
    ``torch.cuda.max_memory_allocated`` measures on a GPU, free of what the
    C allocator keeps or fragments. One profiled run per case.

    Args:
        cases (Sequence[Case]): The cases.
        device (torch.device): Device (on CUDA the allocator's counter is
            already this measure: None is returned).

    Returns:
        Dict[str, int | None]: Bytes by case name.
    """
    if device.type != 'cpu':
        return {case.name: None for case in cases}

    def measure(run: Callable[[], Any]) -> int:
        gc.collect()
        return peak_tensor_bytes(run)

    return _largest_per_case(cases, measure)


# ----------------------------------------------------------------------
# report
# ----------------------------------------------------------------------
def _ratio(num: float, den: float) -> float:
    """``num / den`` (NaN when ``den`` is 0)."""
    return num / den if den else float('nan')


def _train_ratios(
        times: Dict[str, List[float]],
        reduce: Callable[[List[float]], float] = statistics.median
) -> Dict[str, Any]:
    """The training ratios of one timing (wall-clock or CPU).

    Args:
        times (Dict[str, List[float]]): Seconds per round by case.
        reduce (Callable[[List[float]], float]): How the rounds of a case
            are summarised: ``statistics.median`` (default) or ``min`` (the
            least disturbed round, on a shared machine the most repeatable
            estimate of the intrinsic cost).

    Returns:
        Dict[str, Any]: ``dual_over_kd_r18``,
        ``dual_over_kd_r18_plus_kd_mbv2``, ``floor_ratio`` (``(teacher_fwd
        + r18_step + mbv2_step) / (teacher_fwd + r18_step)``),
        ``dual_vs_floor`` (the first over the floor), the overheads of the
        full steps over their components, and the per-round values with
        their median.
    """
    med = {k: reduce(v) for k, v in times.items() if v}

    def floor(t: float, a: float, b: float) -> float:
        return _ratio(t + a + b, t + a)

    out: Dict[str, Any] = {}
    out['dual_over_kd_r18'] = _ratio(med['dual'], med['kd_r18'])
    out['dual_over_kd_r18_plus_kd_mbv2'] = _ratio(
        med['dual'], med['kd_r18'] + med['kd_mbv2'])
    out['floor_ratio'] = floor(med['teacher_fwd'], med['r18_step'],
                               med['mbv2_step'])
    out['dual_vs_floor'] = _ratio(out['dual_over_kd_r18'],
                                  out['floor_ratio'])
    if 'mbv2_step_plain' in med:
        # the floor without recomputation: what the dual run would cost
        # if it kept every activation
        out['plain_floor_ratio'] = floor(med['teacher_fwd'], med['r18_step'],
                                         med['mbv2_step_plain'])
        out['dual_vs_plain_floor'] = _ratio(out['dual_over_kd_r18'],
                                            out['plain_floor_ratio'])
    components = med['teacher_fwd'] + med['r18_step'] + med['mbv2_step']
    out['dual_overhead_ms'] = (med['dual'] - components) * 1e3
    out['dual_overhead_pct'] = 100 * _ratio(med['dual'] - components,
                                            components)
    kd_components = med['teacher_fwd'] + med['r18_step']
    out['kd_r18_overhead_ms'] = (med['kd_r18'] - kd_components) * 1e3
    out['kd_r18_overhead_pct'] = 100 * _ratio(med['kd_r18'] - kd_components,
                                              kd_components)
    # the same round by round (a round's cases ran back to back)
    rounds = range(len(times['dual']))
    per_round = [_ratio(times['dual'][i], times['kd_r18'][i])
                 for i in rounds]
    floors = [floor(times['teacher_fwd'][i], times['r18_step'][i],
                    times['mbv2_step'][i]) for i in rounds]
    vs_floor = [_ratio(a, b) for a, b in zip(per_round, floors)]
    out['per_round_dual_over_kd_r18'] = per_round
    out['per_round_floor_ratio'] = floors
    out['per_round_dual_vs_floor'] = vs_floor
    out['median_per_round_dual_vs_floor'] = statistics.median(vs_floor)
    return out


def summarize(times: Dict[str, List[float]],
              cpu_times: Dict[str, List[float]],
              peaks: Dict[str, Optional[int]],
              static: Dict[str, int], batch_size: int,
              tensor_peaks: Optional[Dict[str, Optional[int]]] = None
              ) -> Dict[str, Any]:
    """Medians, throughput, memory and the ratios.

    Args:
        times (Dict[str, List[float]]): Wall-clock seconds per round by
            case.
        cpu_times (Dict[str, List[float]]): Process CPU seconds per round by
            case (less sensitive to other processes' load on a CPU run).
        peaks (Dict[str, int | None]): Peak memory rise by case.
        static (Dict[str, int]): Kept bytes by case.
        batch_size (int): Images per iteration.
        tensor_peaks (Dict[str, int | None], optional): CPU: peak bytes in
            tensors by case (:func:`measure_tensor_memory`). Defaults to
            None.

    Returns:
        Dict[str, Any]: ``cases`` (per-case numbers), ``ratios`` (from the
        wall-clock medians, plus memory and validation), ``min_ratios``
        (the training ratios from each case's fastest round) and
        ``cpu_ratios`` (from the CPU-time medians).
    """
    med = {k: statistics.median(v) for k, v in times.items() if v}
    cases = {}
    for name, values in times.items():
        if not values:
            continue
        peak = peaks.get(name)
        tensor_peak = (tensor_peaks or {}).get(name)
        cases[name] = dict(
            description=DESCRIPTIONS.get(name, name),
            ms=[v * 1e3 for v in values],
            median_ms=med[name] * 1e3,
            min_ms=min(values) * 1e3,
            max_ms=max(values) * 1e3,
            cpu_median_ms=statistics.median(cpu_times[name]) * 1e3,
            images_per_s=_ratio(batch_size, med[name]),
            peak_mem_mib=None if peak is None else peak / _MiB,
            static_mib=static.get(name, 0) / _MiB,
            est_run_peak_mib=None if peak is None else
            (peak + static.get(name, 0)) / _MiB,
            tensor_peak_mib=None if tensor_peak is None else
            tensor_peak / _MiB,
            est_run_tensor_peak_mib=None if tensor_peak is None else
            (tensor_peak + static.get(name, 0)) / _MiB)

    ratios = _train_ratios(times)
    ratios['time_target_met'] = bool(ratios['dual_vs_floor'] <= 1.05)
    if 'dual_vs_plain_floor' in ratios:
        ratios['time_target_met_plain'] = bool(
            ratios['dual_vs_plain_floor'] <= 1.05)
    mem = {k: cases[k]['peak_mem_mib'] for k in ('dual', 'kd_r18')}
    if None not in mem.values():
        ratios['peak_mem_dual_over_kd_r18'] = _ratio(mem['dual'],
                                                     mem['kd_r18'])
        ratios['est_run_peak_dual_over_kd_r18'] = _ratio(
            cases['dual']['est_run_peak_mib'],
            cases['kd_r18']['est_run_peak_mib'])
        ratios['memory_target_met'] = bool(
            ratios['est_run_peak_dual_over_kd_r18'] <= 1.3)
        if cases['kd_mbv2']['est_run_peak_mib'] is not None:
            # against the single-student KD run of the hungrier student
            ratios['est_run_peak_dual_over_kd_mbv2'] = _ratio(
                cases['dual']['est_run_peak_mib'],
                cases['kd_mbv2']['est_run_peak_mib'])
    tensor = {k: cases[k]['est_run_tensor_peak_mib']
              for k in ('dual', 'kd_r18', 'kd_mbv2')}
    if None not in tensor.values():
        ratios['tensor_run_peak_dual_over_kd_r18'] = _ratio(
            tensor['dual'], tensor['kd_r18'])
        ratios['tensor_run_peak_dual_over_kd_mbv2'] = _ratio(
            tensor['dual'], tensor['kd_mbv2'])
        ratios['tensor_memory_target_met'] = bool(
            ratios['tensor_run_peak_dual_over_kd_r18'] <= 1.3)
    if 'val_dual' in med:
        ratios['val_dual_over_val_kd'] = _ratio(med['val_dual'],
                                                med['val_kd'])
        ratios['val_dual_over_val_single'] = _ratio(med['val_dual'],
                                                    med['val_single'])
        ratios['val_dual_students_over_val_single'] = _ratio(
            med['val_dual_students'], med['val_single'])
    return dict(cases=cases, ratios=ratios,
                min_ratios=_train_ratios(times, min),
                cpu_ratios=_train_ratios(cpu_times))


def _fmt(value: Optional[float], digits: int = 0) -> str:
    """A number for the table (``-`` for None)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '-'
    return f'{value:.{digits}f}'


def to_markdown(result: Dict[str, Any]) -> str:
    """The result as Markdown tables.

    Args:
        result (Dict[str, Any]): What :func:`run_benchmark` returns.

    Returns:
        str: Markdown.
    """
    meta = result['meta']
    lines = [
        f"`{meta['command']}`", '',
        f"device {meta['device_name']}, torch {meta['torch']}, "
        f"{meta['threads']} threads, batch {meta['batch_size']}, "
        f"{meta['resolution']}x{meta['resolution']}, amp {meta['amp']}, "
        f"channels_last {meta['channels_last']}, compile {meta['compile']}, "
        f"malloc {meta.get('malloc', 'default')}"
        f"{' (retained)' if meta.get('malloc_retained') else ''}, "
        f"{meta['repeats']} interleaved rounds after {meta['warmup']} "
        f"warm-up; load average {meta['load_before'][0]:.2f} before, "
        f"{meta['load_after'][0]:.2f} after", '',
        '| case | what | median ms/iter (min-max) | CPU ms | images/s | '
        'peak mem rise (MiB) | peak in tensors (MiB) | static (MiB) |',
        '| --- | --- | --- | --- | --- | --- | --- | --- |'
    ]
    for name, row in result['cases'].items():
        lines.append(
            f"| `{name}` | {row['description']} | "
            f"{_fmt(row['median_ms'])} ({_fmt(row['min_ms'])}-"
            f"{_fmt(row['max_ms'])}) | {_fmt(row['cpu_median_ms'])} | "
            f"{_fmt(row['images_per_s'], 1)} | "
            f"{_fmt(row['peak_mem_mib'])} | "
            f"{_fmt(row.get('tensor_peak_mib'))} | "
            f"{_fmt(row['static_mib']) if row['static_mib'] else '-'} |")
    r, c, m = result['ratios'], result['cpu_ratios'], result['min_ratios']

    def span(values: List[float]) -> str:
        return f'{_fmt(min(values), 2)}-{_fmt(max(values), 2)}'

    lines += [
        '', '| ratio | wall clock, medians | wall clock, fastest rounds | '
        'CPU time, medians |', '| --- | --- | --- | --- |',
        f"| dual / KD-R18 | {_fmt(r['dual_over_kd_r18'], 3)} (rounds "
        f"{span(r['per_round_dual_over_kd_r18'])}) | "
        f"{_fmt(m['dual_over_kd_r18'], 3)} | "
        f"{_fmt(c['dual_over_kd_r18'], 3)} |",
        f"| dual / (KD-R18 + KD-MBv2) | "
        f"{_fmt(r['dual_over_kd_r18_plus_kd_mbv2'], 3)} | "
        f"{_fmt(m['dual_over_kd_r18_plus_kd_mbv2'], 3)} | "
        f"{_fmt(c['dual_over_kd_r18_plus_kd_mbv2'], 3)} |",
        f"| floor: (teacher + R18 + MBv2 steps) / (teacher + R18 step) | "
        f"{_fmt(r['floor_ratio'], 3)} (rounds "
        f"{span(r['per_round_floor_ratio'])}) | "
        f"{_fmt(m['floor_ratio'], 3)} | {_fmt(c['floor_ratio'], 3)} |",
        f"| (dual / KD-R18) / floor, target <= 1.05 | "
        f"**{_fmt(r['dual_vs_floor'], 3)}** "
        f"({'met' if r['time_target_met'] else 'NOT met'}; per-round "
        f"median {_fmt(r['median_per_round_dual_vs_floor'], 3)}) | "
        f"{_fmt(m['dual_vs_floor'], 3)} | {_fmt(c['dual_vs_floor'], 3)} |",
    ]
    if 'dual_vs_plain_floor' in r:
        lines += [
            f"| plain floor: MBv2 step of (b)'s student instead | "
            f"{_fmt(r['plain_floor_ratio'], 3)} | "
            f"{_fmt(m.get('plain_floor_ratio'), 3)} | "
            f"{_fmt(c.get('plain_floor_ratio'), 3)} |",
            f"| (dual / KD-R18) / plain floor, target <= 1.05 | "
            f"{_fmt(r['dual_vs_plain_floor'], 3)} "
            f"({'met' if r['time_target_met_plain'] else 'NOT met'}) | "
            f"{_fmt(m.get('dual_vs_plain_floor'), 3)} | "
            f"{_fmt(c.get('dual_vs_plain_floor'), 3)} |",
        ]
    lines += [
        f"| dual - (teacher + R18 + MBv2 steps) | "
        f"{_fmt(r['dual_overhead_ms'])} ms "
        f"({_fmt(r['dual_overhead_pct'], 1)} %) | "
        f"{_fmt(m['dual_overhead_ms'])} ms "
        f"({_fmt(m['dual_overhead_pct'], 1)} %) | "
        f"{_fmt(c['dual_overhead_ms'])} ms "
        f"({_fmt(c['dual_overhead_pct'], 1)} %) |",
        f"| KD-R18 - (teacher + R18 step) | "
        f"{_fmt(r['kd_r18_overhead_ms'])} ms "
        f"({_fmt(r['kd_r18_overhead_pct'], 1)} %) | "
        f"{_fmt(m['kd_r18_overhead_ms'])} ms "
        f"({_fmt(m['kd_r18_overhead_pct'], 1)} %) | "
        f"{_fmt(c['kd_r18_overhead_ms'])} ms "
        f"({_fmt(c['kd_r18_overhead_pct'], 1)} %) |",
    ]
    if 'peak_mem_dual_over_kd_r18' in r:
        lines += [
            f"| peak memory rise in a step, dual / KD-R18 | "
            f"{_fmt(r['peak_mem_dual_over_kd_r18'], 2)} | | |",
            f"| static + peak rise, dual / KD-R18, target <= 1.3 | "
            f"{_fmt(r['est_run_peak_dual_over_kd_r18'], 2)} "
            f"({'met' if r['memory_target_met'] else 'NOT met'}) | | |",
        ]
        if 'est_run_peak_dual_over_kd_mbv2' in r:
            lines.append(
                f"| static + peak rise, dual / KD-MBv2 | "
                f"{_fmt(r['est_run_peak_dual_over_kd_mbv2'], 2)} | | |")
    if 'tensor_run_peak_dual_over_kd_r18' in r:
        lines += [
            f"| static + peak in tensors, dual / KD-R18, target <= 1.3 | "
            f"**{_fmt(r['tensor_run_peak_dual_over_kd_r18'], 2)}** "
            f"({'met' if r['tensor_memory_target_met'] else 'NOT met'}) "
            '| | |',
            f"| static + peak in tensors, dual / KD-MBv2 | "
            f"{_fmt(r['tensor_run_peak_dual_over_kd_mbv2'], 2)} | | |",
        ]
    if 'val_dual_over_val_kd' in r:
        lines += [
            f"| val: predict_all (+teacher) / KD val (student + teacher) | "
            f"{_fmt(r['val_dual_over_val_kd'], 3)} | | |",
            f"| val: predict_all (+teacher) / one student predict | "
            f"{_fmt(r['val_dual_over_val_single'], 3)} | | |",
            f"| val: predict_all (students + ensemble) / one student "
            f"predict | {_fmt(r['val_dual_students_over_val_single'], 3)} "
            '| | |',
        ]
    return '\n'.join(lines)


# ----------------------------------------------------------------------
# entry points
# ----------------------------------------------------------------------
def run_benchmark(args: argparse.Namespace,
                  log: Optional[Callable[[str], None]] = None
                  ) -> Dict[str, Any]:
    """Build the three runs, time and measure them.

    Args:
        args (argparse.Namespace): Parsed options (see :func:`parse_args`).
        log (Callable[[str], None], optional): Progress printer.

    Returns:
        Dict[str, Any]: ``meta``, ``cases`` and ``ratios``.
    """
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('--device cuda: no CUDA device is available')
    if device.type == 'cpu' and args.amp == 'fp16':
        raise SystemExit('--amp fp16 needs --device cuda (CPU autocast is '
                         'bf16 only); use --amp bf16 on CPU')
    if device.type == 'cpu' and args.amp != 'none' \
            and torch.cuda.is_available():
        raise SystemExit('--device cpu --amp: mmengine\'s AmpOptimWrapper '
                         'autocasts on the GPU when one is present; '
                         'benchmark CPU AMP on a machine without one')
    if args.threads:
        torch.set_num_threads(args.threads)
    malloc_retained = (device.type == 'cpu' and args.malloc == 'retain'
                       and retain_freed_memory())
    # the newest MMLogger is mmengine's 'current' one: keep init_weights()
    # and friends at warnings
    MMLogger.get_instance('benchmark_throughput', log_level='WARNING')
    load_before = os.getloadavg()
    models = {}
    configs = dict(CONFIGS)
    if args.dual_config:
        configs['dual'] = args.dual_config
    for name, path in configs.items():
        model, wrapper, cfg = build_from_config(
            path, device, amp=args.amp, channels_last=args.channels_last,
            compile_=args.compile,
            model_options=args.dual_options if name == 'dual' else None)
        models[name] = (model, wrapper)
        if log:
            log(f'built {name} from {path}')
    num_classes = int(cfg.data_preprocessor.num_classes)
    data = make_batch(args.batch_size, args.resolution, num_classes)
    cases = _build_cases(models, data, device, args.amp, not args.no_val)
    times, cpu_times = time_interleaved(cases, args.repeats, args.warmup,
                                        device, log)
    peaks = measure_memory(cases, device)
    tensor_peaks = measure_tensor_memory(cases, device)
    summary = summarize(times, cpu_times, peaks,
                        {c.name: c.static_bytes for c in cases},
                        args.batch_size, tensor_peaks)
    dual = models['dual'][0]
    meta = dict(
        command='python tools/benchmark_throughput.py ' + ' '.join(
            args.argv),
        torch=torch.__version__,
        python=platform.python_version(),
        device=str(device),
        device_name=(torch.cuda.get_device_name(device) if device.type ==
                     'cuda' else f'CPU ({os.cpu_count()} cores, '
                     f'{platform.processor() or platform.machine()})'),
        cpu_count=os.cpu_count(),
        threads=torch.get_num_threads(),
        batch_size=args.batch_size,
        resolution=args.resolution,
        amp=args.amp,
        channels_last=args.channels_last,
        compile=args.compile,
        repeats=args.repeats,
        warmup=args.warmup,
        dual_options=dict(args.dual_options or {}),
        dual_check_finite=bool(getattr(dual, 'check_finite', False)),
        dual_teacher_grad_mode=getattr(dual, 'teacher_grad_mode', None),
        load_before=list(load_before),
        load_after=list(os.getloadavg()),
        configs=configs,
        malloc=args.malloc,
        malloc_retained=bool(malloc_retained),
        memory_method=('torch.cuda.max_memory_allocated' if device.type ==
                       'cuda' else 'RSS high-water mark (clear_refs); '
                       'tensors: profiler allocation record'))
    return dict(meta=meta, **summary)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line options.

    Args:
        argv (List[str], optional): Arguments (default: ``sys.argv[1:]``).

    Returns:
        argparse.Namespace: The options (``argv`` kept for the report).
    """
    parser = argparse.ArgumentParser(
        description='Throughput of dual-student UDSKD vs MMRazor KD')
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--resolution', type=int, default=224)
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--amp', default='none',
                        choices=['none', 'fp16', 'bf16'])
    parser.add_argument('--channels-last', action='store_true',
                        help='channels-last weights and inputs (all runs)')
    parser.add_argument('--compile', action='store_true',
                        help='torch.compile the networks (all runs)')
    parser.add_argument('--repeats', type=int, default=5,
                        help='timed interleaved rounds')
    parser.add_argument('--warmup', type=int, default=1,
                        help='untimed interleaved rounds first')
    parser.add_argument('--threads', type=int, default=0,
                        help='torch.set_num_threads (0: leave as is)')
    parser.add_argument('--no-val', action='store_true',
                        help='skip the validation cases')
    parser.add_argument(
        '--dual-config', default=None,
        help='config of the dual run (default: '
        f"{CONFIGS['dual']}), e.g. its _lowmem_ variant")
    parser.add_argument(
        '--dual-options', nargs='+', action=DictAction, default={},
        help='extra model fields of the dual run, e.g. '
        'teacher_grad_mode=inference_mode check_finite=False')
    parser.add_argument(
        '--malloc', default='retain', choices=['retain', 'default'],
        help='CPU only: retain = glibc keeps freed memory (what '
        'CPUMallocHook does in training); default = leave it as it is')
    parser.add_argument('--json', help='write the result here')
    parser.add_argument('--quiet', action='store_true',
                        help='no progress lines')
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0 or args.batch_size < 1 \
            or args.resolution < 32:
        parser.error('need --repeats >= 1, --warmup >= 0, --batch-size >= 1 '
                     'and --resolution >= 32')
    args.argv = argv
    return args


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    """Run the benchmark, print the Markdown tables, write the JSON.

    Args:
        argv (List[str], optional): Arguments (default: ``sys.argv[1:]``).

    Returns:
        Dict[str, Any]: The result.
    """
    args = parse_args(argv)
    warnings.filterwarnings('ignore')

    def log(msg: str) -> None:
        if not args.quiet:
            print(f'[benchmark] {msg}', file=sys.stderr, flush=True)

    result = run_benchmark(args, log)
    print(to_markdown(result))
    if args.json:
        out_dir = osp.dirname(osp.abspath(args.json))
        os.makedirs(out_dir, exist_ok=True)
        with open(args.json, 'w') as fh:
            json.dump(result, fh, indent=2)
    return result


if __name__ == '__main__':
    main()
