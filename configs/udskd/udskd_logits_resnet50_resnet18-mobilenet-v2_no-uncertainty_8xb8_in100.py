# UDSKD ablation: no uncertainty weighting (w = 1: plain Hinton KD from the
# teacher) on ImageNet-100 (paper recipe: 8 GPUs x 8 = batch 64, 224 px).
_base_ = './udskd_logits_resnet50_resnet18-mobilenet-v2_8xb8_in100.py'

model = dict(teacher_loss=dict(weighting='none'))
