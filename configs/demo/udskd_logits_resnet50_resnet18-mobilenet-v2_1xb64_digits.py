# Offline demo, stage 4: our uncertainty-aware dual-student KD (arXiv
# 2511.18826; alpha .4, beta .4, gamma .2, tau 4): the stage-1 ResNet-50
# teacher -> ResNet-18 + MobileNetV2 (CIFAR stems) trained together, on the
# 8x8 digits upscaled to 16x16. tools/run_demo.py passes the teacher; alone:
#   python tools/train.py \
#     configs/demo/udskd_logits_resnet50_resnet18-mobilenet-v2_1xb64_digits.py \
#     --cfg-options model.teacher_ckpt=work_dirs/demo/teacher_r50/epoch_8.pth
_base_ = [
    '../_base_/datasets/digits_bs64.py',
    # the narrow nets of the low-data protocol (quarter-width ResNets,
    # half-width MobileNetV2): the whole demo takes minutes on a CPU
    '../_base_/models/nets_cifar_small.py',
    '../_base_/algorithms/udskd.py',
]

teacher = _base_.r50_w16
r18 = _base_.r18_w16
mbv2 = _base_.mbv2_w05
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

# the MobileNetV2 student trains at lr 0.02 (its own optimizer): at the
# ResNet-18's 0.1 its loss climbs past 10 in the first epochs on 100 digits
# and it ends near chance
optim_wrapper = dict(mbv2=dict(optimizer=dict(lr=0.02)))
