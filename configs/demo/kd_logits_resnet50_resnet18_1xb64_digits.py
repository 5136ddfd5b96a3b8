# Offline demo, stage 3: MMRazor's built-in logit KD (alpha 0.3, beta 0.7,
# tau 4), ResNet-50 -> ResNet-18 (CIFAR stem), on 10 labelled digits per class
# (8x8, upscaled to 16x16). Needs the stage-1 teacher; tools/run_demo.py
# passes it, on its own:
#   python tools/train.py \
#       configs/demo/kd_logits_resnet50_resnet18_1xb64_digits.py \
#       --cfg-options model.teacher_ckpt=work_dirs/demo/teacher_r50/epoch_10.pth
_base_ = [
    '../_base_/datasets/digits_10pc_bs32.py',
    '../_base_/schedules/sgd_warmup_cosine_30e.py',
    '../_base_/demo_runtime.py',
    '../_base_/models/nets_cifar_small.py',
    '../_base_/algorithms/kd_logits.py',
]

student = _base_.r18_w16
student.head.loss.loss_weight = 0.3  # alpha
model = dict(
    architecture=student,
    teacher=_base_.r50_w16,
    teacher_ckpt=None)

# scores the student and the teacher in one pass
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
