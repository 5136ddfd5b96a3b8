# UDSKD ablation: no peer learning (gamma = 0: two independent
# entropy-weighted KD students) on CIFAR-100.
_base_ = './udskd_logits_resnet50_resnet18-mobilenet-v2_1xb64_cifar100.py'

model = dict(gamma=0.0)
