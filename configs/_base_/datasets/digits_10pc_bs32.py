# The offline demo's low-data regime: the students see 10 labelled digits per
# class (100 images, batch 32, 4 iterations an epoch) while the teacher saw
# all 1,437 train digits; validation stays on all 360 test digits.
_base_ = ['./digits_bs64.py']

train_dataloader = dict(batch_size=32, dataset=dict(max_per_class=10))
