# resnet50 teacher training (cross-entropy only)
# on Tiny-ImageNet-100 (first 100 sorted wnids, 64 px).
_base_ = [
    '../_base_/datasets/tiny_imagenet100_bs64.py',
    '../_base_/schedules/sgd_cosine_50e.py',
    '../_base_/default_runtime.py',
    '../_base_/models/nets_cifar.py',
]

model = _base_.r50
model.head.num_classes = 100
