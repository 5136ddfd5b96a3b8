# DKEL (arXiv 2312.11218) with two CIFAR-stem ResNet-18 branches on CIFAR-10,
# SGD 0.1 / cosine / 50 epochs / batch 64 for each branch.
_base_ = [
    '../_base_/datasets/cifar10_bs64.py',
    '../_base_/schedules/sgd_cosine_50e.py',
    '../_base_/default_runtime.py',
    '../_base_/models/nets_cifar.py',
    '../_base_/algorithms/dkel.py',
]

model = dict(branches=dict(b0=_base_.r18, b1=_base_.r18))

# one optimizer per branch, keyed by the branch names (the teachers
# b0_teacher / b1_teacher get none: they follow their branch by EMA)
optim_wrapper = dict(
    _delete_=True,
    constructor='mmrazor.SeparateOptimWrapperConstructor',
    b0=dict(type='OptimWrapper', optimizer=_base_.optim_wrapper.optimizer),
    b1=dict(type='OptimWrapper', optimizer=_base_.optim_wrapper.optimizer))

# one pass scores every branch, every teacher and the ensemble:
# b0/accuracy/top1, b0_teacher/accuracy/top1, ..., ensemble/accuracy/top1
val_cfg = dict(_delete_=True, type='mmrazor.MultiModelValLoop')
test_cfg = dict(_delete_=True, type='mmrazor.MultiModelValLoop', stage='test')
default_hooks = dict(
    checkpoint=dict(save_best='ensemble/accuracy/top1', rule='greater'))
