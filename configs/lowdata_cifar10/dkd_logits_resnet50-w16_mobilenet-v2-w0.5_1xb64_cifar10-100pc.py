# Low-data protocol, row "built-in DKD" for mobilenet-v2-w0.5 (alpha 1,
# beta 8, tau 4, CE 1, the DKD term warmed up over 20 epochs): the ResNet-18
# config with MobileNetV2 as the student. Without the warm-up this student's
# loss is NaN within the first epoch.
_base_ = ['./dkd_logits_resnet50-w16_resnet18-w16_1xb64_cifar10-100pc.py']

# replaces the ResNet-18 student (and the base's `student`) as a whole
student = dict(_delete_=True, **_base_.mbv2_w05)
student['head']['loss']['loss_weight'] = 1.0  # DKD keeps the CE at weight 1
model = dict(architecture=student)
