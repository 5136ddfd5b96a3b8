# Offline demo, stage 4: our uncertainty-aware dual-student KD (arXiv
# 2511.18826; alpha .4, beta .4, gamma .2, tau 4): the stage-1 ResNet-50
# teacher -> ResNet-18 + MobileNetV2 (CIFAR stems) trained together, on 10
# labelled digits per class (8x8, upscaled to 16x16). tools/run_demo.py
# passes the teacher; alone:
#   python tools/train.py \
#     configs/demo/udskd_logits_resnet50_resnet18-mobilenet-v2_1xb64_digits.py \
#     --cfg-options model.teacher_ckpt=work_dirs/demo/teacher_r50/epoch_10.pth
_base_ = [
    '../_base_/datasets/digits_10pc_bs32.py',
    '../_base_/models/nets_cifar_small.py',
    # brings the paper's schedule and the runtime itself (one optimizer per
    # student), so the demo's schedule and hooks are restated below
    '../_base_/algorithms/udskd.py',
]

model = dict(
    teacher=_base_.r50_w16,
    teacher_ckpt=None,
    students=dict(r18=_base_.r18_w16, mbv2=_base_.mbv2_w05))

# as in ../_base_/schedules/sgd_warmup_cosine_30e.py: one warm-up epoch, then
# cosine to 0; tools/run_demo.py --epochs N sets train_cfg.max_epochs and
# param_scheduler.1.end to N
max_epochs = 30
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=1, end=max_epochs,
         eta_min=0.0, convert_to_iter_based=True),
]

# as in ../_base_/demo_runtime.py: keep only the final weights
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=-1, max_keep_ckpts=1, save_best=None,
                    save_optimizer=False))

# the MobileNetV2 student trains at lr 0.02 (its own optimizer): at the
# ResNet-18's 0.1 its loss climbs past 10 in the first epochs on 100 digits
# and it ends near chance
optim_wrapper = dict(mbv2=dict(optimizer=dict(lr=0.02)))
