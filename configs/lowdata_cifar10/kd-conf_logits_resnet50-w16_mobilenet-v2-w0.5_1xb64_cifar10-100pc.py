# Low-data protocol, row "built-in KD with the confidence weight" for
# mobilenet-v2-w0.5: the ResNet-18 config with MobileNetV2 as the student.
_base_ = ['./kd-conf_logits_resnet50-w16_resnet18-w16_1xb64_cifar10-100pc.py']

# replaces the ResNet-18 student (and the base's `student`) as a whole
student = dict(_delete_=True, **_base_.mbv2_w05)
student['head']['loss']['loss_weight'] = 0.3  # alpha
model = dict(architecture=student)
