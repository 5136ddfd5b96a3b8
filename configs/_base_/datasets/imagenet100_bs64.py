# ImageNet-100 (the 100 CMC classes, Tian et al. 2019) read from an ImageNet-1k
# folder tree. Build the annotation files once with
#   python tools/dataset_converters/make_imagenet100.py /path/to/imagenet \
#       --out-dir /path/to/imagenet/meta100
# then set `data_root` (the ImageNet-1k root). Paper pipeline (arXiv
# 2511.18826): random crop 224, flip 0.5, colour jitter 0.4; val resize 256,
# centre crop 224. Batch 64 in total (8 GPUs x 8).
data_root = 'data/imagenet'
num_classes = 100
data_preprocessor = dict(
    type='mmpretrain.ClsDataPreprocessor',
    num_classes=num_classes,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        ann_file='meta100/train.txt',
        data_prefix='train',
        with_label=True,
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        ann_file='meta100/val.txt',
        data_prefix='val',
        with_label=True,
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
