# DKD baseline (arXiv 2203.08679; MMRazor's DKDLoss), R50 -> resnet18, on
# CIFAR-10 (32 px, CIFAR-adapted nets):
# alpha 1, beta 8, tau 4, CE 1, 20 warm-up epochs.
_base_ = [
    '../_base_/datasets/cifar10_bs64.py',
    '../_base_/schedules/sgd_cosine_50e.py',
    '../_base_/default_runtime.py',
    '../_base_/models/nets_cifar.py',
    '../_base_/algorithms/dkd_logits.py',
]

student = _base_.r18
teacher = _base_.r50
model = dict(
    architecture=student,
    teacher=teacher,
    # a checkpoint of ../baselines/resnet50_1xb64_cifar10.py, e.g.
    # --cfg-options model.teacher_ckpt=work_dirs/.../best.pth
    teacher_ckpt=None)
custom_hooks = _base_.custom_hooks + [_base_.dkd_warmup_hook]

# scores the student and the teacher in one pass
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
