# scikit-learn's 8x8 handwritten digits (1,797 real images, 10 classes; ships
# with scikit-learn, no download), upscaled to img_size x img_size RGB by
# mmrazor_udskd's DigitsDataset. Stratified 80/20 split: 1,437 train, 360
# test. The data infos hold the pixels, so the pipelines start without
# LoadImageFromFile. Light augmentation: random crop with padding, no flip
# (digits are not mirror-symmetric).
img_size = 16
num_classes = 10
data_preprocessor = dict(
    type='mmpretrain.ClsDataPreprocessor',
    num_classes=num_classes,
    # grey digits repeated over three channels (train split statistics)
    mean=[77.9, 77.9, 77.9],
    std=[81.9, 81.9, 81.9],
    to_rgb=False)

train_pipeline = [
    dict(type='RandomCrop', crop_size=img_size, padding=img_size // 8),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type='DigitsDataset',
        split='train',
        img_size=img_size,
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=128,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type='DigitsDataset',
        split='test',
        img_size=img_size,
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
