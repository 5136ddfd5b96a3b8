# The paper's three networks at 224x224 (mmpretrain architectures), as plain
# model dicts that algorithm configs use with {{_base_.<name>}}. The heads
# predict ImageNet-100's 100 classes; a config for another data set sets
# <net>.head.num_classes itself.
r50 = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=50, num_stages=4, out_indices=(3, ),
                  style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=100, in_channels=2048,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
              topk=(1, 5)))
r18 = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=18, num_stages=4, out_indices=(3, ),
                  style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=100, in_channels=512,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
              topk=(1, 5)))
mbv2 = dict(
    _scope_='mmpretrain',
    type='ImageClassifier',
    # InplaceReLU6: nn.ReLU6's values and gradients, one activation less
    # kept per layer (mmrazor_udskd/models/layers/inplace_relu6.py)
    backbone=dict(type='MobileNetV2', widen_factor=1.0,
                  act_cfg=dict(type='InplaceReLU6')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=100, in_channels=1280,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
              topk=(1, 5)))
