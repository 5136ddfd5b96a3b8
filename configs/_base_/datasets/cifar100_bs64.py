# CIFAR-100 in its official format, read with mmpretrain's CIFAR100 type:
# cifar-100-python.tar.gz extracted under `data_root`, i.e.
#   <data_root>/cifar-100-python/{train,test,meta}
# (the 100 fine labels). mmpretrain checks every file's md5 against the
# official release. Nothing is downloaded at run time (download=False).
# The usual CIFAR-100 KD augmentation (random crop 32 with padding 4, flip)
# plus the colour jitter of the UDSKD paper.
_base_ = 'mmpretrain::_base_/datasets/cifar100_bs16.py'

data_root = 'data/cifar100'
num_classes = 100
data_preprocessor = dict(type='mmpretrain.ClsDataPreprocessor')

train_pipeline = [
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(data_root=data_root, download=False,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(data_root=data_root, download=False))
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
