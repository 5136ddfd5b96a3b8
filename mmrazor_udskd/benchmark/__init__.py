"""A small library for timing and measuring training steps, used by
``tools/benchmark_throughput.py``: cases and interleaved timing
(:mod:`.timing`), memory probes (:mod:`.memory`), building runs from configs
in a chosen precision (:mod:`.build`), the benchmark's cases (:mod:`.cases`)
and the report (:mod:`.report`)."""
from .build import PRECISION_MODES, build_from_config, make_batch
from .cases import build_cases
from .memory import (MemoryProbe, measure_memory, measure_tensor_memory,
                     state_bytes)
from .report import DESCRIPTIONS, summarize, to_markdown
from .timing import Case, sync, time_interleaved

__all__ = [
    'PRECISION_MODES', 'build_from_config', 'make_batch', 'build_cases',
    'MemoryProbe', 'measure_memory', 'measure_tensor_memory', 'state_bytes',
    'DESCRIPTIONS', 'summarize', 'to_markdown', 'Case', 'sync',
    'time_interleaved'
]
