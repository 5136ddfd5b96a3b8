# resnet18 student baseline: hard labels only (alpha = 1, no KD)
# on CIFAR-100 (official pickled batches, 32 px, CIFAR-adapted nets).
_base_ = [
    '../_base_/datasets/cifar100_bs64.py',
    '../_base_/schedules/sgd_cosine_50e.py',
    '../_base_/default_runtime.py',
    '../_base_/models/nets_cifar.py',
]

model = _base_.r18
model.head.num_classes = 100
