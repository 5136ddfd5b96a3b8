# Offline demo, stage 3: MMRazor's built-in logit KD (alpha 0.3, beta 0.7,
# tau 4), ResNet-50 -> ResNet-18 (CIFAR stem), on the 8x8 digits upscaled to
# 16x16. Needs the stage-1 teacher; tools/run_demo.py passes it, on its own:
#   python tools/train.py \
#       configs/demo/kd_logits_resnet50_resnet18_1xb64_digits.py \
#       --cfg-options model.teacher_ckpt=work_dirs/demo/teacher_r50/epoch_8.pth
_base_ = [
    '../_base_/datasets/digits_bs64.py',
    '../_base_/schedules/sgd_cosine_50e.py',
    '../_base_/default_runtime.py',
    # the narrow nets of the low-data protocol (quarter-width ResNets,
    # half-width MobileNetV2): the whole demo takes minutes on a CPU
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

# a short schedule: one warm-up epoch, then cosine to 0; tools/run_demo.py
# --epochs N sets train_cfg.max_epochs and param_scheduler.1.end to N
max_epochs = 30
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=1, end=max_epochs,
         eta_min=0.0, convert_to_iter_based=True),
]

# keep only the final weights (no optimizer state)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=-1, max_keep_ckpts=1, save_best=None,
                    save_optimizer=False))

# the low-data regime: the students see 10 labelled digits per class (100
# images, 4 iterations an epoch), the teacher saw all 1,437
train_dataloader = dict(batch_size=32, dataset=dict(max_per_class=10))
