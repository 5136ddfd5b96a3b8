# DKEL, decoupled knowledge with ensemble learning (Shao & Chen, arXiv
# 2312.11218): online distillation of N student branches trained from scratch,
# each with a decoupled EMA teacher. The child config fills `branches` (one
# model dict per branch, >= 2) and one optimizer wrapper per branch name.
#
# Defaults follow the authors' code: temperature 3, loss weights 1 for CE and
# 0.1 for the two distillation terms (the value their ramp-up reaches), decay
# rate 0.5 with cut-off 0.01, 2 CE-only teacher steps at lr/100, EMA momentum
# capped at 0.999. Unlike their code, whose step counter starts at 0 after the
# initialisation (so the first EMA update overwrites the initialised teacher),
# the initialised teacher counts as the first sample of the EMA
# (ema_count_init=True: the first update keeps half of it). Their ramp-up is
# buggy (terms ~0 until epoch 81 of 300); ours is the intended sigmoid ramp,
# 80/300 of the schedule: 13 of 50 epochs.
model = dict(
    _scope_='mmrazor',
    type='DecoupledOnlineDistill',
    branches=dict(),
    tau=3.0,
    ce_weight=1.0,
    kd_weight=0.1,
    peer_weight=0.1,
    decay_k=0.5,
    decay_cutoff=0.01,
    rampup_epochs=13,
    teacher_init_iters=2,
    teacher_init_lr_ratio=0.01,
    ema_max_momentum=0.999,
    ema_count_init=True,
    predict_with=None)

# each branch a separately DDP-wrapped child (teachers have no trainable
# parameters and stay unwrapped); only used with a distributed launcher
model_wrapper_cfg = dict(
    type='MMSeparateDistributedDataParallel',
    broadcast_buffers=False,
    find_unused_parameters=False)
