# ImageNet-1k in mmpretrain's layout, read with its ImageNet type from the
# annotation files:
#   <data_root>/train/<wnid>/*.JPEG, <data_root>/val/*.JPEG,
#   <data_root>/meta/{train,val}.txt  ("<path relative to the split> <label>")
# The UDSKD paper's pipeline (random crop 224, flip 0.5, colour jitter 0.4;
# val resize 256, centre crop 224); batch 64 in total (8 GPUs x 8). For the
# 100-class subset use imagenet100_bs64.py.
_base_ = './imagenet100_bs64.py'

num_classes = 1000
data_preprocessor = dict(num_classes=num_classes)

train_dataloader = dict(
    dataset=dict(_delete_=True, type='ImageNet', data_root='data/imagenet',
                 split='train', pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    dataset=dict(_delete_=True, type='ImageNet', data_root='data/imagenet',
                 split='val', pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
