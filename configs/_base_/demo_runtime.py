# The offline demo's runtime: the plugin's default runtime, logging every 10
# iterations and keeping only the final weights (no optimizer state).
_base_ = ['./default_runtime.py']

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=-1, max_keep_ckpts=1, save_best=None,
                    save_optimizer=False))
