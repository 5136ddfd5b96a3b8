# Offline demo, stage 4: our uncertainty-aware dual-student KD (arXiv
# 2511.18826; alpha .4, beta .4, gamma .2, tau 4): the stage-1 ResNet-50
# teacher -> ResNet-18 + MobileNetV2 (CIFAR stems) trained together, on the
# 8x8 digits upscaled to 16x16. tools/run_demo.py passes the teacher; alone:
#   python tools/train.py \
#     configs/demo/udskd_logits_resnet50_resnet18-mobilenet-v2_1xb64_digits.py \
#     --cfg-options model.teacher_ckpt=work_dirs/demo/teacher_r50/epoch_8.pth
_base_ = [
    '../_base_/datasets/digits_bs64.py',
    '../_base_/models/nets_cifar.py',
    '../_base_/algorithms/udskd.py',
]

teacher = _base_.r50
r18 = _base_.r18
mbv2 = _base_.mbv2
model = dict(
    teacher=teacher,
    teacher_ckpt=None,
    students=dict(r18=r18, mbv2=mbv2))

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
