"""Per-image training-step time of CIFAR-size networks in fp32 and bf16,
contiguous and channels-last: the measurements behind the default precision
policy (``mmrazor_udskd.models.utils.precision``).

Usage::

    python tools/benchmark_precision.py [--nets resnet18_c16 ...]
        [--batch-size 128] [--resolution 32] [--threads 2] [--repeats 3]
        [--warmup 1] [--precisions fp32 bf16]
        [--layouts contiguous channels_last] [--json out.json]

Every variant of every network is timed in interleaved rounds (one step
each per round) and the medians over the rounds are reported.
"""
import argparse
import json
import os
import os.path as osp
import platform
import sys
import warnings
from typing import Any, Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmrazor_udskd  # noqa: E402,F401  isort:skip  (patches + registries)
import torch  # noqa: E402

from mmrazor_udskd.benchmark.step import (CIFAR_NETS,  # noqa: E402
                                          median_table, time_train_steps)
from mmrazor_udskd.models.utils.precision import \
    native_bf16_available  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--nets', nargs='+', default=list(CIFAR_NETS),
                        choices=list(CIFAR_NETS))
    parser.add_argument('--batch-size', type=int, default=128)
    parser.add_argument('--resolution', type=int, default=32)
    parser.add_argument('--threads', type=int, default=0,
                        help='torch.set_num_threads (0: leave as is)')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--precisions', nargs='+', default=['fp32', 'bf16'],
                        choices=['fp32', 'bf16'])
    parser.add_argument('--layouts', nargs='+',
                        default=['contiguous', 'channels_last'],
                        choices=['contiguous', 'channels_last'])
    parser.add_argument('--json', help='write the result here')
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    return args


def to_markdown(rows: List[Dict[str, Any]], meta: Dict[str, Any]) -> str:
    """The medians as a Markdown table."""
    lines = [
        f"`{meta['command']}`", '',
        f"{meta['cpu']}, torch {meta['torch']}, {meta['threads']} threads, "
        f"native bf16: {'yes' if meta['native_bf16'] else 'no'}; batch "
        f"{meta['batch_size']}, {meta['resolution']} px, medians of "
        f"{meta['repeats']} interleaved rounds", '',
        '| network | layout | fp32 ms/image | bf16 ms/image | '
        'bf16 speed-up |', '| --- | --- | --- | --- | --- |'
    ]
    for row in rows:
        fp32, bf16 = row.get('fp32'), row.get('bf16')
        speedup = row.get('bf16_speedup')
        lines.append(
            f"| {row['net']} | {row['layout']} | "
            f"{'-' if fp32 is None else f'{fp32:.2f}'} | "
            f"{'-' if bf16 is None else f'{bf16:.2f}'} | "
            f"{'-' if speedup is None else f'{speedup:.2f}x'} |")
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    """Time the steps, print the table, write the JSON."""
    args = parse_args(argv)
    warnings.filterwarnings('ignore')
    if args.threads:
        torch.set_num_threads(args.threads)
    times = time_train_steps(args.nets, args.precisions, args.layouts,
                             args.batch_size, args.resolution, args.repeats,
                             args.warmup)
    caps = getattr(torch.cpu, 'get_capabilities', dict)()
    meta = dict(
        command='python tools/benchmark_precision.py ' + ' '.join(args.argv),
        cpu=f"{os.cpu_count()} cores, "
        f"{caps.get('cpu_name') or platform.processor() or 'CPU'}",
        torch=torch.__version__, threads=torch.get_num_threads(),
        native_bf16=native_bf16_available('cpu'),
        cpu_capability=torch.backends.cpu.get_cpu_capability(),
        batch_size=args.batch_size, resolution=args.resolution,
        repeats=args.repeats, warmup=args.warmup,
        load_after=list(os.getloadavg()))
    rows = median_table(times)
    print(to_markdown(rows, meta))
    result = dict(meta=meta, rows=rows, ms_per_image=times)
    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as fh:
            json.dump(result, fh, indent=2)
    return result


if __name__ == '__main__':
    main()
