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
        [--device cpu|cuda] [--precision fp32|bf16|policy]
        [--amp none|fp16|bf16] [--channels-last]
        [--compile] [--repeats 5] [--warmup 1] [--threads 2]
        [--dual-config CONFIG] [--dual-options key=value ...]
        [--malloc retain|default] [--no-val] [--no-memory]
        [--json out.json]

``--precision`` sets every run's models: ``fp32`` (all of them), ``bf16``
(all of them: students through bf16 ``AmpOptimWrapper``, the dual teacher
through ``model.teacher_precision``, the KD teachers inside their students'
autocast) or ``policy`` (each model by the default policy of
``mmrazor_udskd.models.utils.precision``: bf16 for the teacher and ResNets
where the device computes bf16 natively, fp32 otherwise). ``--amp`` is the
older switch: every wrapper AMP, the teachers following their wrappers.

The library behind this tool is :mod:`mmrazor_udskd.benchmark`.

``--malloc retain`` (the default) applies on the CPU what training does
through ``CPUMallocHook`` in the configs' runtime: glibc keeps freed memory
for reuse instead of page-faulting every step's activations in again
(``mmrazor_udskd.utils.malloc``); ``--malloc default`` leaves the
allocator as it is, to measure that cost.
"""
import argparse
import contextlib
import json
import os
import os.path as osp
import platform
import sys
import warnings
from typing import Any, Callable, Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmrazor_udskd  # noqa: E402,F401  isort:skip  (patches + registries)
import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402

from mmrazor_udskd.benchmark import (PRECISION_MODES,  # noqa: E402,F401
                                     Case, MemoryProbe, build_cases,
                                     make_batch, measure_memory,
                                     measure_tensor_memory, state_bytes,
                                     summarize, time_interleaved,
                                     to_markdown)
from mmrazor_udskd.benchmark import \
    build_from_config as _build_from_config  # noqa: E402
from mmrazor_udskd.models.utils.precision import \
    native_bf16_available  # noqa: E402
from mmrazor_udskd.utils.malloc import retain_freed_memory  # noqa: E402

__all__ = [
    'CONFIGS', 'Case', 'MemoryProbe', 'build_from_config', 'make_batch',
    'state_bytes', 'time_interleaved', 'measure_memory',
    'measure_tensor_memory', 'summarize', 'to_markdown', 'run_benchmark',
    'parse_args', 'main'
]

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

#: the three runs compared, by case name
CONFIGS: Dict[str, str] = {
    'kd_r18': 'configs/kd/kd_logits_resnet50_resnet18_8xb8_in100.py',
    'kd_mbv2': 'configs/kd/kd_logits_resnet50_mobilenet-v2_8xb8_in100.py',
    'dual': 'configs/udskd/'
    'udskd_logits_resnet50_resnet18-mobilenet-v2_8xb8_in100.py',
}


def build_from_config(path: str, device: torch.device, **kwargs):
    """:func:`mmrazor_udskd.benchmark.build_from_config` with config paths
    relative to the repository root.

    Args:
        path (str): Config path.
        device (torch.device): Device.
        **kwargs: Passed on (``amp``, ``precision``, ``channels_last``,
            ``compile_``, ``model_options``, ``seed``).

    Returns:
        Tuple[nn.Module, OptimWrapper, Config]: Model, wrapper(s), config.
    """
    kwargs.setdefault('root', REPO_ROOT)
    return _build_from_config(path, device, **kwargs)


def _cpu_name() -> str:
    """The CPU's model name as torch reads it (else the platform's)."""
    caps = getattr(torch.cpu, 'get_capabilities', dict)()
    return (caps.get('cpu_name') or platform.processor()
            or platform.machine())


def _cpu_amp_allowed() -> contextlib.AbstractContextManager:
    """A no-op kept for callers: ``AmpOptimWrapper`` builds on a CPU since
    the compat patch ``amp_cpu_bf16``."""
    return contextlib.nullcontext()


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
    if args.amp != 'none' and args.precision != 'fp32':
        raise SystemExit('use --precision or --amp, not both')
    if device.type == 'cpu' and (args.amp != 'none' or args.precision !=
                                 'fp32') and torch.cuda.is_available():
        raise SystemExit('--device cpu with AMP: mmengine\'s AmpOptimWrapper '
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
    precisions = {}
    configs = dict(CONFIGS)
    if args.dual_config:
        configs['dual'] = args.dual_config
    for name, path in configs.items():
        model, wrapper, cfg = build_from_config(
            path, device, amp=args.amp, channels_last=args.channels_last,
            compile_=args.compile, precision=args.precision,
            model_options=args.dual_options if name == 'dual' else None)
        models[name] = (model, wrapper)
        precisions[name] = dict(cfg.benchmark_precisions)
        if log:
            log(f'built {name} from {path}')
    num_classes = int(cfg.data_preprocessor.num_classes)
    data = make_batch(args.batch_size, args.resolution, num_classes)
    val_amp = args.amp if args.precision != 'bf16' else 'bf16'
    cases = build_cases(models, data, device, val_amp, not args.no_val)
    times, cpu_times = time_interleaved(cases, args.repeats, args.warmup,
                                        device, log)
    if args.no_memory:
        peaks = tensor_peaks = {case.name: None for case in cases}
    else:
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
                     f'{_cpu_name()})'),
        cpu_count=os.cpu_count(),
        threads=torch.get_num_threads(),
        batch_size=args.batch_size,
        resolution=args.resolution,
        amp=args.amp,
        precision=args.precision,
        precisions=precisions,
        native_bf16=native_bf16_available(device.type),
        val_precision=val_amp if val_amp != 'none' else 'fp32',
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
    parser.add_argument(
        '--precision', default='fp32', choices=PRECISION_MODES,
        help='fp32: every model fp32; bf16: every model bf16; policy: each '
        'model by the default policy (bf16 for the teacher and ResNets '
        'where the device computes bf16 natively, else fp32)')
    parser.add_argument('--amp', default='none',
                        choices=['none', 'fp16', 'bf16'],
                        help='every optimizer wrapper AMP (the teachers '
                        'follow their wrappers); see --precision')
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
    parser.add_argument('--no-memory', action='store_true',
                        help='time only: skip the memory measurements (3 '
                        'more runs of every case)')
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