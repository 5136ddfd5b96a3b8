# MMRazor's built-in KD baseline (alpha 0.3, beta 0.7, tau 4), R50 -> mobilenet-v2.
_base_ = [
    '../_base_/datasets/cifar10_bs64.py',
    '../_base_/schedules/sgd_cosine_50e.py',
    '../_base_/default_runtime.py',
    '../_base_/models/nets_cifar.py',
    '../_base_/algorithms/kd_logits.py',
]

student = _base_.mbv2
student.head.loss.loss_weight = 0.3  # alpha
model = dict(
    architecture=student,
    teacher=_base_.r50,
    # a checkpoint of ../baselines/resnet50_1xb64_cifar10.py (or any R50
    # with this head), e.g. --cfg-options
    # model.teacher_ckpt=work_dirs/resnet50_1xb64_cifar10/epoch_50.pth
    teacher_ckpt=None)

# scores the student and the teacher in one pass
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
