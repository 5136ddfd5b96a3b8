# DML (Zhang et al., CVPR 2018) on CIFAR-100 (official pickled batches, 32 px,
# CIFAR-adapted nets): resnet18 + mobilenet-v2 trained together as peers, no
# teacher; alpha .4, gamma .2, tau 4 (the UDSKD rows without the teacher term).
_base_ = [
    '../_base_/datasets/cifar100_bs64.py',
    '../_base_/models/nets_cifar.py',
    '../_base_/algorithms/dml.py',
]

r18 = _base_.r18
mbv2 = _base_.mbv2
r18.head.num_classes = 100
mbv2.head.num_classes = 100
model = dict(students=dict(r18=r18, mbv2=mbv2))
