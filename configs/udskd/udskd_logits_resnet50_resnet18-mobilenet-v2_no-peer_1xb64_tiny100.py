# UDSKD ablation: no peer learning (gamma = 0: two independent
# entropy-weighted KD students) on
# Tiny-ImageNet-100 (first 100 sorted wnids, 64 px).
_base_ = './udskd_logits_resnet50_resnet18-mobilenet-v2_1xb64_tiny100.py'

model = dict(gamma=0.0)
