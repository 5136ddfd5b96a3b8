# UDSKD ablation: no uncertainty weighting (w = 1: plain Hinton KD from the
# teacher) on CIFAR-100.
_base_ = './udskd_logits_resnet50_resnet18-mobilenet-v2_1xb64_cifar100.py'

model = dict(teacher_loss=dict(weighting='none'))
