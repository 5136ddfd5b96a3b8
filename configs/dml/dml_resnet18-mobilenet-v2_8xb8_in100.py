# DML (Zhang et al., CVPR 2018) on ImageNet-100 (the UDSKD paper's recipe:
# 8 GPUs x 8 = batch 64, 224 px, 50 epochs): resnet18 + mobilenet-v2 trained
# together as peers, no teacher; alpha .4, gamma .2, tau 4 (the UDSKD rows
# without the teacher term).
_base_ = [
    '../_base_/datasets/imagenet100_bs64.py',
    '../_base_/models/nets_in.py',
    '../_base_/algorithms/dml.py',
]

model = dict(students=dict(r18=_base_.r18, mbv2=_base_.mbv2))
