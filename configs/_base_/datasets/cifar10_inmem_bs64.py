# CIFAR-10 as a folder of JPEGs, decoded once into memory
# (InMemoryCustomDataset): the pipelines start after LoadImageFromFile and the
# loaders need no workers. Same images, labels and augmentations as
# cifar10_bs64.py.
_base_ = ['./cifar10_bs64.py']

train_pipeline = [
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]

train_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(type='InMemoryCustomDataset', pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(type='InMemoryCustomDataset', pipeline=test_pipeline))
test_dataloader = val_dataloader
