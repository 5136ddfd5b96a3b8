# UDSKD ablation: no peer learning (gamma = 0: two independent
# entropy-weighted KD students) on
# ImageNet-100 (paper recipe: 8 GPUs x 8 = batch 64, 224 px).
_base_ = './udskd_logits_resnet50_resnet18-mobilenet-v2_8xb8_in100.py'

model = dict(gamma=0.0)
