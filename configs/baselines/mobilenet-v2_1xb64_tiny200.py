# mobilenet-v2 student baseline: hard labels only (alpha = 1, no KD)
# on Tiny-ImageNet-200 (64 px, CIFAR-adapted nets).
_base_ = [
    '../_base_/datasets/tiny_imagenet_bs64.py',
    '../_base_/schedules/sgd_cosine_50e.py',
    '../_base_/default_runtime.py',
    '../_base_/models/nets_cifar.py',
]

model = _base_.mbv2
model.head.num_classes = 200
