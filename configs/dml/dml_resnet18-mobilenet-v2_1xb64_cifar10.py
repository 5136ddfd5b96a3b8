# DML (Zhang et al., CVPR 2018) on CIFAR-10 (32 px, CIFAR-adapted nets):
# resnet18 + mobilenet-v2 trained together as peers, no teacher; alpha .4,
# gamma .2, tau 4 (the UDSKD rows without the teacher term).
_base_ = [
    '../_base_/datasets/cifar10_bs64.py',
    '../_base_/models/nets_cifar.py',
    '../_base_/algorithms/dml.py',
]

model = dict(students=dict(r18=_base_.r18, mbv2=_base_.mbv2))
