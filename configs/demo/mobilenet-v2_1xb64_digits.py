# Offline demo, stage 2: the hard-label baseline (alpha = 1, no teacher),
# MobileNetV2 (CIFAR stem) on the 8x8 digits upscaled to 16x16: the ResNet-18
# config with MobileNetV2 as the model. Run by tools/run_demo.py; on its own:
#   python tools/train.py configs/demo/mobilenet-v2_1xb64_digits.py
_base_ = ['./resnet18_1xb64_digits.py']

model = dict(_delete_=True, **_base_.mbv2_w05)

# MobileNetV2 trains at lr 0.02: at the other students' 0.1 its loss climbs
# past 10 in the first epochs on 100 digits and it ends near chance
optim_wrapper = dict(optimizer=dict(lr=0.02))
