# CKD (arXiv 2404.14109): CE (weight 1.0) + contrastive logit KD,
# R50 -> resnet18.
# Temperature 1.0 / loss weight 100: the authors' setting for most CIFAR pairs.
_base_ = [
    '../_base_/datasets/cifar10_bs64.py',
    '../_base_/schedules/sgd_cosine_50e.py',
    '../_base_/default_runtime.py',
    '../_base_/models/nets_cifar.py',
    '../_base_/algorithms/ckd_logits.py',
]

student = _base_.r18
student.head.loss.loss_weight = 1.0  # CE
model = dict(
    architecture=student,
    teacher=_base_.r50,
    # a checkpoint of ../baselines/resnet50_1xb64_cifar10.py (or any R50
    # with this head), e.g. --cfg-options
    # model.teacher_ckpt=work_dirs/resnet50_1xb64_cifar10/epoch_50.pth
    teacher_ckpt=None,
    distiller=dict(
        distill_losses=dict(
            loss_ckd=dict(temperature=1.0, loss_weight=100.0))))

# scores the student and the teacher in one pass
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
