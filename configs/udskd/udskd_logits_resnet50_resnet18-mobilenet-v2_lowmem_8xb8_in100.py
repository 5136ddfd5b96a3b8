# UDSKD on ImageNet-100 with less activation memory: the MobileNetV2
# student's blocks keep only their inputs in the forward and are recomputed
# in the backward (BatchNorm statistics kept, so losses, gradients and
# running statistics equal the plain run's). The checkpointed student runs
# its forward first, so its brief per-block peaks never sit on top of the
# R18 graph. Costs one more MobileNetV2 forward per step; see
# docs/benchmark.md for the measured time and memory against MMRazor's KD.
_base_ = './udskd_logits_resnet50_resnet18-mobilenet-v2_8xb8_in100.py'

model = dict(
    activation_checkpoint=dict(
        mbv2=['backbone.conv1', 'backbone.layer*.*', 'backbone.conv2']))
