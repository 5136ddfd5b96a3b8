# Low-data protocol, row "DML" (Zhang et al., CVPR 2018): quarter-width
# ResNet-18 + half-width MobileNetV2 trained together as peers on 100 CIFAR-10
# train images per class, no teacher. alpha .4, gamma .2, tau 4: the "full
# UDSKD" row of this protocol with beta 0 and the teacher removed, so the two
# rows differ only by the teacher. (The paper's DML weighs CE and peer KL
# equally at tau 1: model.gamma=0.4 model.tau=1.0.)
_base_ = [
    '../_base_/datasets/cifar10_inmem_bs64.py',
    '../_base_/models/nets_cifar_small.py',
    '../_base_/algorithms/dml.py',
]

model = dict(students=dict(r18=_base_.r18_w16, mbv2=_base_.mbv2_w05))
# 40 epochs of 16 iterations (1,000 images, batch 64), scored every 5.
train_cfg = dict(max_epochs=40, val_interval=5)
param_scheduler = dict(end=40, T_max=40)

# channels-last weights: same math, 1.3-1.5x faster fp32 steps on a CPU
custom_hooks = _base_.custom_hooks + [dict(type='ChannelsLastHook')]
