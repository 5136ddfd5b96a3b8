# resnet18 student baseline: hard labels only (alpha = 1, no KD)
# on ImageNet-100 (paper recipe: 8 GPUs x 8 = batch 64, 224 px).
_base_ = [
    '../_base_/datasets/imagenet100_bs64.py',
    '../_base_/schedules/sgd_cosine_50e.py',
    '../_base_/default_runtime.py',
    '../_base_/models/nets_in.py',
]

model = _base_.r18
