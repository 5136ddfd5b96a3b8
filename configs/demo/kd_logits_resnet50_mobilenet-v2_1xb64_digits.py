# Offline demo, stage 3: MMRazor's built-in logit KD (alpha 0.3, beta 0.7,
# tau 4), ResNet-50 -> MobileNetV2 (CIFAR stem), on the 8x8 digits upscaled to
# 16x16: the ResNet-18 config with MobileNetV2 as the student. Needs the
# stage-1 teacher; tools/run_demo.py passes it, on its own:
#   python tools/train.py \
#       configs/demo/kd_logits_resnet50_mobilenet-v2_1xb64_digits.py \
#       --cfg-options model.teacher_ckpt=work_dirs/demo/teacher_r50/epoch_8.pth
_base_ = ['./kd_logits_resnet50_resnet18_1xb64_digits.py']

# replaces the ResNet-18 student (and the base's `student`) as a whole
student = dict(_delete_=True, **_base_.mbv2_w05)
student['head']['loss']['loss_weight'] = 0.3  # alpha
model = dict(architecture=student)

# MobileNetV2 trains at lr 0.02: at the other students' 0.1 its loss climbs
# past 10 in the first epochs on 100 digits and it ends near chance
optim_wrapper = dict(optimizer=dict(lr=0.02))
