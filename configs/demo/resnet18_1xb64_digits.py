# Offline demo, stage 2: the hard-label baseline (alpha = 1, no teacher),
# ResNet-18 (CIFAR stem) on 10 labelled digits per class (8x8, upscaled to
# 16x16). Run by tools/run_demo.py; on its own:
#   python tools/train.py configs/demo/resnet18_1xb64_digits.py
_base_ = [
    '../_base_/datasets/digits_10pc_bs32.py',
    '../_base_/schedules/sgd_warmup_cosine_30e.py',
    '../_base_/demo_runtime.py',
    '../_base_/models/nets_cifar_small.py',
]

model = _base_.r18_w16
