# MMRazor's built-in KD baseline (alpha 0.3, beta 0.7, tau 4),
# R50 -> mobilenet-v2, on CIFAR-100 (official pickled batches, 32 px,
# CIFAR-adapted nets): the ResNet-18 config with MobileNetV2 as the student.
_base_ = ['./kd_logits_resnet50_resnet18_1xb64_cifar100.py']

# replaces the ResNet-18 student (and the base's `student`) as a whole
student = dict(_delete_=True, **_base_.mbv2)
student['head']['loss']['loss_weight'] = 0.3  # alpha
student['head']['num_classes'] = 100
model = dict(architecture=student)
