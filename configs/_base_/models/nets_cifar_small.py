# Narrow CIFAR nets for the low-data protocol (configs/lowdata_cifar10/):
# the paper's three families at reduced width, so the whole protocol trains
# on a CPU. Quarter-width ResNets (base/stem channels 16 instead of 64) and a
# half-width MobileNetV2 (widen_factor 0.5; its last conv keeps 1280 channels).
r50_w16 = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    backbone=dict(type='ResNet_CIFAR', depth=50, num_stages=4,
                  base_channels=16, stem_channels=16, out_indices=(3, ),
                  style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=512,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
              topk=(1, 5)))
r18_w16 = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    backbone=dict(type='ResNet_CIFAR', depth=18, num_stages=4,
                  base_channels=16, stem_channels=16, out_indices=(3, ),
                  style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=128,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
              topk=(1, 5)))
mbv2_w05 = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    backbone=dict(type='MobileNetV2_CIFAR', widen_factor=0.5,
                  act_cfg=dict(type='InplaceReLU6')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=1280,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
              topk=(1, 5)))
