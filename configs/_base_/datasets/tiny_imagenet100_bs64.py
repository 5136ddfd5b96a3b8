# Tiny-ImageNet-100: the first 100 classes (sorted wnids) of Tiny-ImageNet-200,
# listed in tiny_imagenet100_classes.txt beside this file. mmpretrain's
# CustomDataset does not filter folders by `classes`, so the subset is read
# from annotation files (labels 0..99 in that list's order), written once by
# the ImageNet-100 builder with this class list:
#   python tools/dataset_converters/make_imagenet100.py \
#       /path/to/tiny-imagenet-200 \
#       --class-list configs/_base_/datasets/tiny_imagenet100_classes.txt
# (-> /path/to/tiny-imagenet-200/meta100/{train,val,classes}.txt), then set
# `data_root` (the Tiny-ImageNet-200 root) with --cfg-options.
_base_ = './tiny_imagenet_bs64.py'

num_classes = 100
data_preprocessor = dict(num_classes=num_classes)

train_dataloader = dict(
    dataset=dict(ann_file='meta100/train.txt', with_label=True))
val_dataloader = dict(
    dataset=dict(ann_file='meta100/val.txt', with_label=True))
test_dataloader = val_dataloader
