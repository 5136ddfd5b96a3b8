# UDSKD (arXiv 2511.18826) on CIFAR-100 (official pickled batches, 32 px,
# CIFAR-adapted nets):
# R50 teacher -> resnet18 + mobilenet-v2 students, alpha .4, beta .4,
# gamma .2, tau 4, entropy-weighted teacher KD + peer KL.
# Pass the teacher with --cfg-options model.teacher_ckpt=<ckpt of
# ../baselines/resnet50_1xb64_cifar100.py>.
_base_ = [
    '../_base_/datasets/cifar100_bs64.py',
    '../_base_/models/nets_cifar.py',
    '../_base_/algorithms/udskd.py',
]

teacher = _base_.r50
r18 = _base_.r18
mbv2 = _base_.mbv2
teacher.head.num_classes = 100
r18.head.num_classes = 100
mbv2.head.num_classes = 100
model = dict(
    teacher=teacher,
    teacher_ckpt=None,
    students=dict(r18=r18, mbv2=mbv2))
