"""``tools/benchmark_throughput.py``: end to end at 32x32 and its pieces."""
import json
import math
import os
import subprocess
import sys

import mmrazor_udskd  # noqa: F401  isort:skip  (before mmrazor)
import pytest
import torch

from ..helpers.tiny_dual import REPO_ROOT, load_benchmark_tool

TRAIN = ('kd_r18', 'kd_mbv2', 'dual', 'teacher_fwd', 'r18_step',
         'mbv2_step', 'mbv2_step_plain', 'preprocess')
LOWMEM = ('configs/udskd/'
          'udskd_logits_resnet50_resnet18-mobilenet-v2_lowmem_8xb8_in100.py')
VAL = ('val_single', 'val_kd', 'val_dual_students', 'val_dual')


@pytest.fixture(scope='module')
def bench():
    """``tools/benchmark_throughput.py`` as a module."""
    return load_benchmark_tool()


def bench_configs_dual() -> str:
    return load_benchmark_tool().CONFIGS['dual']


def _finite_positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) \
        and value > 0


@pytest.mark.slow
@pytest.mark.parametrize('dual_config', [None, LOWMEM])
def test_benchmark_end_to_end_tiny(tmp_path, dual_config):
    """The real configs at 32x32, batch 4, one round: every case timed, the
    JSON has positive finite ratios, the Markdown table is printed."""
    out = tmp_path / 'bench.json'
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    extra = ['--dual-config', dual_config] if dual_config else []
    proc = subprocess.run(
        [sys.executable, 'tools/benchmark_throughput.py', '--resolution',
         '32', '--batch-size', '4', '--repeats', '1', '--warmup', '0',
         '--threads', '1', '--channels-last', '--dual-options',
         'teacher_grad_mode=inference_mode', '--quiet', '--json',
         str(out), *extra],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert '| dual / KD-R18 |' in proc.stdout
    result = json.loads(out.read_text())
    assert set(result['cases']) == set(TRAIN + VAL)
    for name, row in result['cases'].items():
        assert _finite_positive(row['median_ms']), name
        assert _finite_positive(row['images_per_s']), name
        assert len(row['ms']) == 1
    ratios = result['ratios']
    for key in ('dual_over_kd_r18', 'dual_over_kd_r18_plus_kd_mbv2',
                'floor_ratio', 'dual_vs_floor', 'plain_floor_ratio',
                'dual_vs_plain_floor', 'val_dual_over_val_kd',
                'val_dual_over_val_single',
                'val_dual_students_over_val_single'):
        assert _finite_positive(ratios[key]), key
    for key in ('dual_over_kd_r18', 'floor_ratio', 'dual_vs_floor'):
        assert _finite_positive(result['cpu_ratios'][key]), key
        assert _finite_positive(result['min_ratios'][key]), key
    assert isinstance(ratios['time_target_met'], bool)
    meta = result['meta']
    assert meta['resolution'] == 32 and meta['batch_size'] == 4
    assert meta['channels_last'] is True
    assert meta['dual_teacher_grad_mode'] == 'inference_mode'
    assert meta['configs']['dual'] == (dual_config or bench_configs_dual())
    if result['cases']['dual']['peak_mem_mib'] is not None:
        assert _finite_positive(ratios['peak_mem_dual_over_kd_r18'])
    # the profiler's tensor peaks: the dual step holds more than the R18 KD
    # step (two students' graphs), and each step more than the teacher
    cases = result['cases']
    for name in TRAIN:
        assert _finite_positive(cases[name]['tensor_peak_mib']), name
    assert cases['kd_r18']['tensor_peak_mib'] > cases['teacher_fwd'][
        'tensor_peak_mib']
    if dual_config is None:  # both students' whole graphs at once
        assert cases['dual']['tensor_peak_mib'] > cases['kd_r18'][
            'tensor_peak_mib']
    else:  # the recomputing MBv2 keeps less than (b)'s plain one
        assert cases['mbv2_step']['tensor_peak_mib'] < cases[
            'mbv2_step_plain']['tensor_peak_mib']
    assert _finite_positive(ratios['tensor_run_peak_dual_over_kd_r18'])


def test_summarize_ratios(bench):
    """Known times give the documented ratios; wall-clock and CPU times are
    distinct series, so mixing them up changes the numbers."""
    times = dict(kd_r18=[1.0, 1.2], kd_mbv2=[0.8, 0.8], dual=[1.5, 1.5],
                 teacher_fwd=[0.4, 0.4], r18_step=[0.5, 0.5],
                 mbv2_step=[0.4, 0.4], mbv2_step_plain=[0.3, 0.3],
                 preprocess=[0.01, 0.01],
                 val_single=[0.1, 0.1], val_kd=[0.3, 0.3],
                 val_dual_students=[0.15, 0.15], val_dual=[0.45, 0.45])
    peaks = {k: 100 * 2**20 for k in times}
    peaks['dual'] = 150 * 2**20
    static = dict(kd_r18=100 * 2**20, dual=110 * 2**20)
    tensor_peaks = dict(peaks, kd_r18=50 * 2**20, kd_mbv2=200 * 2**20)
    # CPU seconds: 2 threads busy in the steps, 1 in the teacher forward
    cpu_times = {k: [2 * v for v in vs] for k, vs in times.items()}
    cpu_times.update(teacher_fwd=[0.4, 0.4], kd_r18=[2.0, 2.2],
                     dual=[2.5, 2.5])
    result = bench.summarize(times, cpu_times, peaks, static,
                             batch_size=16, tensor_peaks=tensor_peaks)
    r = result['ratios']
    assert r['dual_over_kd_r18'] == pytest.approx(1.5 / 1.1)
    assert r['dual_over_kd_r18_plus_kd_mbv2'] == pytest.approx(1.5 / 1.9)
    assert r['floor_ratio'] == pytest.approx(1.3 / 0.9)
    assert r['dual_vs_floor'] == pytest.approx((1.5 / 1.1) / (1.3 / 0.9))
    assert r['time_target_met'] is True
    # the floor with (b)'s un-recomputed MBv2 step: (0.4 + 0.5 + 0.3) / 0.9
    assert r['plain_floor_ratio'] == pytest.approx(1.2 / 0.9)
    assert r['dual_vs_plain_floor'] == pytest.approx((1.5 / 1.1) / (1.2 / 0.9))
    assert r['time_target_met_plain'] is True
    assert r['dual_overhead_ms'] == pytest.approx(200.0)
    assert r['kd_r18_overhead_ms'] == pytest.approx(200.0)
    assert r['per_round_dual_over_kd_r18'] == pytest.approx([1.5, 1.25])
    assert r['peak_mem_dual_over_kd_r18'] == pytest.approx(1.5)
    assert r['est_run_peak_dual_over_kd_r18'] == pytest.approx(260 / 200)
    assert r['memory_target_met'] is True
    # (110 + 150) / (100 + 50); (110 + 150) / (0 + 200)
    assert r['tensor_run_peak_dual_over_kd_r18'] == pytest.approx(260 / 150)
    assert r['tensor_run_peak_dual_over_kd_mbv2'] == pytest.approx(1.3)
    assert r['tensor_memory_target_met'] is False
    assert r['val_dual_over_val_kd'] == pytest.approx(1.5)
    assert r['val_dual_students_over_val_single'] == pytest.approx(1.5)
    assert result['cases']['dual']['images_per_s'] == pytest.approx(16 / 1.5)
    # from the CPU series: (0.4 + 1.0 + 0.8) / (0.4 + 1.0); 2.5 / 2.1
    cpu = result['cpu_ratios']
    assert cpu['floor_ratio'] == pytest.approx(2.2 / 1.4)
    assert cpu['dual_over_kd_r18'] == pytest.approx(2.5 / 2.1)
    assert cpu['dual_vs_floor'] == pytest.approx((2.5 / 2.1) / (2.2 / 1.4))
    assert result['cases']['dual']['cpu_median_ms'] == pytest.approx(2500.0)
    assert result['cases']['kd_r18']['cpu_median_ms'] == pytest.approx(
        2100.0)
    assert result['cases']['kd_r18']['median_ms'] == pytest.approx(1100.0)
    # the least disturbed wall-clock round: 1.5 / 1.0
    assert result['min_ratios']['dual_over_kd_r18'] == pytest.approx(1.5)
    meta = dict(command='x', device_name='cpu', torch=torch.__version__,
                threads=2, batch_size=16, resolution=224, amp='none',
                channels_last=False, compile=False, repeats=2, warmup=1,
                load_before=[1.0, 1.0, 1.0], load_after=[1.0, 1.0, 1.0])
    text = bench.to_markdown(dict(meta=meta, **result))
    assert '| `dual` |' in text and 'met' in text
    assert ('peak in tensors, dual / KD-R18, target <= 1.3 | **1.73** '
            '(NOT met)') in text


def test_memory_probe_sees_a_cpu_allocation(bench):
    probe = bench.MemoryProbe(torch.device('cpu'))
    if not probe.available:
        pytest.skip('no /proc/self/clear_refs on this platform')
    probe.start()
    block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
    rise = probe.stop()
    del block
    assert rise >= 48 * 2**20


def test_state_bytes_counts_params_buffers_and_momentum(bench):
    net = torch.nn.Sequential(torch.nn.Linear(10, 10),
                              torch.nn.BatchNorm1d(10))
    from mmengine.optim import OptimWrapper
    wrapper = OptimWrapper(torch.optim.SGD(net.parameters(), lr=0.1,
                                           momentum=0.9))
    base = bench.state_bytes(net, wrapper)
    # 110 + 20 params, 20 running stats + 1 int64 counter
    assert base == (130 + 20) * 4 + 8
    net(torch.randn(4, 10)).sum().backward()
    wrapper.step()
    assert bench.state_bytes(net, wrapper) == base + 130 * 4


@pytest.mark.parametrize('argv', [
    ['--device', 'cpu', '--amp', 'fp16'],
    ['--resolution', '16'],
    ['--repeats', '0'],
])
def test_bad_options_refused(bench, argv):
    with pytest.raises(SystemExit):
        args = bench.parse_args(argv)
        bench.run_benchmark(args)


def test_make_batch_shapes(bench):
    data = bench.make_batch(3, 40, 100, seed=1)
    assert len(data['inputs']) == 3
    assert data['inputs'][0].shape == (3, 40, 40)
    assert data['inputs'][0].dtype == torch.uint8
    labels = [int(s.gt_label) for s in data['data_samples']]
    assert all(0 <= y < 100 for y in labels)
