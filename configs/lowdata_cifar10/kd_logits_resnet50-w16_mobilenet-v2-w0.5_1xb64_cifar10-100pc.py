# Low-data protocol, row "built-in KD": MMRazor's SingleTeacherDistill +
# KLDivergence (alpha 0.3, beta 0.7, tau 4), quarter-width R50 teacher ->
# mobilenet-v2-w0.5, 100 CIFAR-10 train images per class.
_base_ = [
    '../_base_/datasets/cifar10_inmem_bs64.py',
    '../_base_/schedules/sgd_cosine_50e.py',
    '../_base_/default_runtime.py',
    '../_base_/models/nets_cifar_small.py',
    '../_base_/algorithms/kd_logits.py',
]

student = _base_.mbv2_w05
student.head.loss.loss_weight = 0.3  # alpha
model = dict(architecture=student, teacher=_base_.r50_w16,
             teacher_ckpt=None)  # the protocol's teacher checkpoint
# 40 epochs of 16 iterations (1,000 images, batch 64), scored every 5.
train_cfg = dict(max_epochs=40, val_interval=5)
param_scheduler = dict(end=40, T_max=40)

# channels-last weights: same math, 1.3-1.5x faster fp32 steps on a CPU
custom_hooks = _base_.custom_hooks + [dict(type='ChannelsLastHook')]
