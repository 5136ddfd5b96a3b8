# UDSKD ablation: no uncertainty weighting (w = 1: plain Hinton KD from the
# teacher) on Tiny-ImageNet-200 (64 px, CIFAR-adapted nets).
_base_ = './udskd_logits_resnet50_resnet18-mobilenet-v2_1xb64_tiny200.py'

model = dict(teacher_loss=dict(weighting='none'))
