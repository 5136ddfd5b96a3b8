# Runtime shared by every config of the plugin: mmpretrain's runtime plus the
# plugin import (compat patches + registrations) and checkpoint bookkeeping.
_base_ = 'mmpretrain::_base_/default_runtime.py'

custom_imports = dict(imports=['mmrazor_udskd'], allow_failed_imports=False)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    # atomic writes: a crash mid-save never leaves a truncated checkpoint
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2,
                    save_best='auto',
                    backend_args=dict(backend='atomic_local')),
)
# CPUMallocHook: on the CPU, glibc keeps freed memory for the next iteration
# instead of page-faulting every activation in again (same numbers; on a
# 2-core CPU VM at batch 16 / 224 px the dual-student step lost its 10-39 %
# overhead over its components, see docs/benchmark.md; a no-op on GPUs).
# reliability: bad data stops the run before training (labels outside
# [0, C), empty data sets), logged values are means over ranks, and every
# epoch's randomness depends on (seed, epoch) only, so --resume reproduces an
# uninterrupted run. A child config that sets custom_hooks replaces this list.
custom_hooks = [
    dict(type='DataSanityHook'),
    dict(type='SyncLogVarsHook'),
    dict(type='EpochSeedHook'),
    dict(type='CPUMallocHook'),
]
# nccl on GPUs; on a machine without a GPU mmrazor_udskd.compat uses gloo.
env_cfg = dict(dist_cfg=dict(backend='nccl'))
randomness = dict(seed=0, deterministic=False)
