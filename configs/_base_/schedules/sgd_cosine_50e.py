# The paper's schedule (arXiv 2511.18826): SGD momentum 0.9, lr 0.1, weight
# decay 1e-4, cosine to 0 over 50 epochs, batch 64 in total.
_base_ = 'mmpretrain::_base_/schedules/imagenet_bs256.py'

max_epochs = 50
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(
    _delete_=True, type='CosineAnnealingLR', by_epoch=True, begin=0,
    end=max_epochs, T_max=max_epochs, eta_min=0.0, convert_to_iter_based=True)
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
auto_scale_lr = dict(base_batch_size=64)
