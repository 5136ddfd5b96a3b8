# MMRazor's built-in KD baseline (alpha 0.3, beta 0.7, tau 4),
# R50 -> resnet18, on CIFAR-100 (official pickled batches, 32 px,
# CIFAR-adapted nets).
_base_ = [
    '../_base_/datasets/cifar100_bs64.py',
    '../_base_/schedules/sgd_cosine_50e.py',
    '../_base_/default_runtime.py',
    '../_base_/models/nets_cifar.py',
    '../_base_/algorithms/kd_logits.py',
]

student = _base_.r18
student.head.loss.loss_weight = 0.3  # alpha
teacher = _base_.r50
student.head.num_classes = 100
teacher.head.num_classes = 100
model = dict(
    architecture=student,
    teacher=teacher,
    # a checkpoint of ../baselines/resnet50_1xb64_cifar100.py, e.g.
    # --cfg-options model.teacher_ckpt=work_dirs/.../best.pth
    teacher_ckpt=None)

# scores the student and the teacher in one pass
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
