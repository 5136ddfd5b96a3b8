# UDSKD ablation: no uncertainty weighting (w = 1: plain Hinton KD from the
# teacher) on Tiny-ImageNet-100 (first 100 sorted wnids, 64 px).
_base_ = './udskd_logits_resnet50_resnet18-mobilenet-v2_1xb64_tiny100.py'

model = dict(teacher_loss=dict(weighting='none'))
