# Low-data protocol, row "UDSKD without peer" (gamma = 0).
_base_ = ['./udskd_logits_resnet50-w16_resnet18-w16-mobilenet-v2-w0.5_1xb64_cifar10-100pc.py']

model = dict(gamma=0.0)
