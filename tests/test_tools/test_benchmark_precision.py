"""``tools/benchmark_throughput.py --precision``: each run's models are built
in the chosen precision, the components time the same contexts as the
training step, and the JSON records the setting."""
import json
import os
import subprocess
import sys
import warnings

import mmrazor_udskd  # noqa: F401  isort:skip  (before mmrazor)
import pytest
import torch

from mmrazor_udskd import benchmark
from mmrazor_udskd.models.utils import precision as prec

from ..helpers.tiny_dual import REPO_ROOT, load_benchmark_tool

UDSKD_CIFAR = ('configs/udskd/'
               'udskd_logits_resnet50_resnet18-mobilenet-v2_1xb64_cifar10.py')
KD_CIFAR = 'configs/kd/kd_logits_resnet50_mobilenet-v2_1xb64_cifar10.py'

pytestmark = pytest.mark.skipif(
    torch.cuda.is_available(), reason='CPU autocast (bf16) is checked')


def _build(path, precision, native=None, monkeypatch=None):
    if native is not None:
        monkeypatch.setattr(prec, 'native_bf16_available',
                            lambda _d: native)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return benchmark.build_from_config(
            path, torch.device('cpu'), precision=precision, root=REPO_ROOT)


def _wrapper_types(wrapper):
    return {name: type(w).__name__ for name, w in wrapper.items()}


@pytest.mark.parametrize('precision,native,teacher,r18,mbv2', [
    ('fp32', None, 'fp32', 'OptimWrapper', 'OptimWrapper'),
    ('bf16', None, 'bf16', 'AmpOptimWrapper', 'AmpOptimWrapper'),
    ('policy', True, 'bf16', 'AmpOptimWrapper', 'OptimWrapper'),
    ('policy', False, 'fp32', 'OptimWrapper', 'OptimWrapper'),
])
def test_dual_run_is_built_in_the_precision(monkeypatch, precision, native,
                                            teacher, r18, mbv2):
    model, wrapper, cfg = _build(UDSKD_CIFAR, precision, native,
                                 monkeypatch)
    assert model.teacher_precision == teacher
    assert _wrapper_types(wrapper) == dict(r18=r18, mbv2=mbv2)
    expected = dict(teacher=teacher,
                    r18='bf16' if r18 == 'AmpOptimWrapper' else 'fp32',
                    mbv2='bf16' if mbv2 == 'AmpOptimWrapper' else 'fp32')
    assert cfg.benchmark_precisions == expected


def test_kd_teacher_follows_the_policy_not_the_student(monkeypatch):
    """KD R50 -> MBv2 under the policy with native bf16: the student's
    wrapper stays fp32, the teacher's forward runs in bf16."""
    model, wrapper, cfg = _build(KD_CIFAR, 'policy', True, monkeypatch)
    assert type(wrapper).__name__ == 'OptimWrapper'
    assert cfg.benchmark_precisions == dict(model='fp32', teacher='bf16')
    seen = {}
    model.teacher.head.fc.register_forward_hook(
        lambda _m, _i, out: seen.__setitem__('teacher', out.dtype))
    model.architecture.head.fc.register_forward_hook(
        lambda _m, _i, out: seen.__setitem__('student', out.dtype))
    data = benchmark.make_batch(2, 32, 10)
    model.train_step(data, wrapper)
    assert seen == dict(teacher=torch.bfloat16, student=torch.float32)


def test_teacher_component_times_the_train_step_context():
    """The ``teacher_fwd`` case runs the teacher in the dual model's
    ``teacher_precision``, as ``train_step`` does."""
    model, wrapper, _ = _build(UDSKD_CIFAR, 'bf16')
    kd = _build(KD_CIFAR, 'fp32')[:2]
    models = dict(kd_r18=kd, kd_mbv2=kd, dual=(model, wrapper))
    data = benchmark.make_batch(2, 32, 10)
    cases = {c.name: c for c in benchmark.build_cases(
        models, data, torch.device('cpu'), 'none', with_val=False)}
    assert cases['teacher_fwd'].run().dtype == torch.bfloat16


def test_precision_and_amp_are_exclusive():
    bench = load_benchmark_tool()
    with pytest.raises(SystemExit):
        bench.run_benchmark(bench.parse_args(['--precision', 'bf16',
                                              '--amp', 'bf16']))
    with pytest.raises(SystemExit):
        bench.parse_args(['--precision', 'fp16'])
    with pytest.raises(ValueError, match='precision must be one of'):
        benchmark.build_from_config(UDSKD_CIFAR, torch.device('cpu'),
                                    precision='half', root=REPO_ROOT)


def test_report_names_the_precision():
    meta = dict(precision='policy', native_bf16=False,
                precisions=dict(dual=dict(teacher='fp32', r18='fp32')))
    line = benchmark.report._precision_line(meta)
    assert line == ('precision `policy` (native bf16: no) - dual: teacher '
                    'fp32, r18 fp32')


@pytest.mark.slow
def test_benchmark_records_the_precision(tmp_path):
    """At 32x32, batch 4, one round, ``--precision bf16``: the JSON records
    the setting and every model's precision, the dual step and the floor
    are reported; ``--no-memory`` skips the memory measures."""
    out = tmp_path / 'bench.json'
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    proc = subprocess.run(
        [sys.executable, 'tools/benchmark_throughput.py', '--resolution',
         '32', '--batch-size', '4', '--repeats', '1', '--warmup', '0',
         '--threads', '1', '--no-val', '--no-memory', '--precision', 'bf16',
         '--quiet',
         '--json', str(out)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert 'precision `bf16`' in proc.stdout
    assert '| (dual / KD-R18) / floor, target <= 1.05 |' in proc.stdout
    result = json.loads(out.read_text())
    meta = result['meta']
    assert meta['precision'] == 'bf16'
    assert meta['precisions']['dual'] == dict(teacher='bf16', r18='bf16',
                                              mbv2='bf16')
    assert meta['precisions']['kd_r18'] == dict(teacher='bf16',
                                                model='bf16')
    assert meta['native_bf16'] == prec.native_bf16_available('cpu')
    assert result['ratios']['floor_ratio'] > 1.0
    assert all(row['peak_mem_mib'] is None and row['tensor_peak_mib'] is None
               for row in result['cases'].values())
