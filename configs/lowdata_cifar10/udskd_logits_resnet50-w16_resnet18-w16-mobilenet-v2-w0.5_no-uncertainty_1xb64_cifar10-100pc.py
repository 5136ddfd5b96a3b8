# Low-data protocol, row "UDSKD with w = 1" (no confidence weighting).
_base_ = ['./udskd_logits_resnet50-w16_resnet18-w16-mobilenet-v2-w0.5_1xb64_cifar10-100pc.py']

model = dict(teacher_loss=dict(weighting='none'))
