# DKD baseline (arXiv 2203.08679; MMRazor's DKDLoss), R50 -> mobilenet-v2, on
# CIFAR-100 (official pickled batches, 32 px):
# alpha 1, beta 8, tau 4, CE 1, 20 warm-up epochs; the ResNet-18 config with
# MobileNetV2 as the student.
_base_ = ['./dkd_logits_resnet50_resnet18_1xb64_cifar100.py']

# replaces the ResNet-18 student (and the base's `student`) as a whole
student = dict(_delete_=True, **_base_.mbv2)
student['head']['num_classes'] = 100
model = dict(architecture=student)
