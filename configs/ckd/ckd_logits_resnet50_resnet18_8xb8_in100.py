# CKD (arXiv 2404.14109): CE (weight 1.0) + contrastive logit KD,
# R50 -> resnet18 on ImageNet-100. Temperature 1.0 / loss weight 10: the
# authors' ImageNet setting. With 8 GPUs x 8 images each rank has only 7
# negatives per row; setting
# model.distiller.distill_losses.loss_ckd.gather_negatives=True contrasts
# against all 64 samples instead.
_base_ = [
    '../_base_/datasets/imagenet100_bs64.py',
    '../_base_/schedules/sgd_cosine_50e.py',
    '../_base_/default_runtime.py',
    '../_base_/models/nets_in.py',
    '../_base_/algorithms/ckd_logits.py',
]

student = _base_.r18
student.head.loss.loss_weight = 1.0  # CE
model = dict(
    architecture=student,
    teacher=_base_.r50,
    # a checkpoint of ../baselines/resnet50_8xb8_in100.py (or any R50
    # with this head), e.g. --cfg-options
    # model.teacher_ckpt=work_dirs/resnet50_8xb8_in100/epoch_50.pth
    teacher_ckpt=None,
    distiller=dict(
        distill_losses=dict(
            loss_ckd=dict(temperature=1.0, loss_weight=10.0))))

# scores the student and the teacher in one pass
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
