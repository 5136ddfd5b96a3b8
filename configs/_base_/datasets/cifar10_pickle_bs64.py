# CIFAR-10 in its official format, read with mmpretrain's CIFAR10 type:
# cifar-10-python.tar.gz extracted under `data_root`, i.e.
#   <data_root>/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}
# mmpretrain checks every file's md5 against the official release. Nothing
# is downloaded at run time (download=False): fetch the archive yourself.
# Same augmentation and statistics as the JPEG-folder base cifar10_bs64.py;
# the pickles hold RGB pixels, hence to_rgb=False.
_base_ = 'mmpretrain::_base_/datasets/cifar10_bs16.py'

data_root = 'data/cifar10'
num_classes = 10
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
