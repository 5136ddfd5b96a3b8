# Offline demo, stage 2: the hard-label baseline (alpha = 1, no teacher),
# MobileNetV2 (CIFAR stem) on the 8x8 digits upscaled to 16x16. Run by
# tools/run_demo.py; on its own:
#   python tools/train.py configs/demo/mobilenet-v2_1xb64_digits.py
_base_ = [
    '../_base_/datasets/digits_bs64.py',
    '../_base_/schedules/sgd_cosine_50e.py',
    '../_base_/default_runtime.py',
    # the narrow nets of the low-data protocol (quarter-width ResNets,
    # half-width MobileNetV2): the whole demo takes minutes on a CPU
    '../_base_/models/nets_cifar_small.py',
]

model = _base_.mbv2_w05

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

# MobileNetV2 trains at lr 0.02: at the other students' 0.1 its loss climbs
# past 10 in the first epochs on 100 digits and it ends near chance
optim_wrapper = dict(optimizer=dict(lr=0.02))
