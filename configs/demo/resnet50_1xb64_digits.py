# Offline demo, stage 1: the ResNet-50 teacher (CIFAR stem) trained on all
# 1,437 train digits (8x8, upscaled to 16x16). Run by tools/run_demo.py; on its own:
#   python tools/train.py configs/demo/resnet50_1xb64_digits.py
_base_ = [
    '../_base_/datasets/digits_bs64.py',
    '../_base_/schedules/sgd_warmup_cosine_30e.py',
    '../_base_/demo_runtime.py',
    # the narrow nets of the low-data protocol (quarter-width ResNets,
    # half-width MobileNetV2): the whole demo takes minutes on a CPU
    '../_base_/models/nets_cifar_small.py',
]

model = _base_.r50_w16

# 23 iterations an epoch: 10 epochs, validated after each
max_epochs = 10
train_cfg = dict(max_epochs=max_epochs, val_interval=1)
param_scheduler = _base_.param_scheduler
param_scheduler[1].end = max_epochs
