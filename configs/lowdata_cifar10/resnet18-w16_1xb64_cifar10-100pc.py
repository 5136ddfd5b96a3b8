# Low-data protocol, row "hard labels": resnet18-w16 trained with cross-entropy
# only on 100 CIFAR-10 train images per class (the subset folder is passed
# as data_root by tools/run_ablation.py).
_base_ = [
    '../_base_/datasets/cifar10_inmem_bs64.py',
    '../_base_/schedules/sgd_cosine_50e.py',
    '../_base_/default_runtime.py',
    '../_base_/models/nets_cifar_small.py',
]

model = _base_.r18_w16
# 40 epochs of 16 iterations (1,000 images, batch 64), scored every 5.
train_cfg = dict(max_epochs=40, val_interval=5)
param_scheduler = dict(end=40, T_max=40)

# channels-last weights: same math, 1.3-1.5x faster fp32 steps on a CPU
custom_hooks = _base_.custom_hooks + [dict(type='ChannelsLastHook')]
