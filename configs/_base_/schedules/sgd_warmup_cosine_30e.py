# The offline demo's short schedule: the paper's SGD (momentum 0.9, lr 0.1,
# weight decay 1e-4) with one linear warm-up epoch, then cosine to 0 at epoch
# 30; validation every 5 epochs. tools/run_demo.py --epochs N sets
# train_cfg.max_epochs and param_scheduler.1.end to N.
_base_ = ['./sgd_cosine_50e.py']

max_epochs = 30
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=1, end=max_epochs,
         eta_min=0.0, convert_to_iter_based=True),
]
