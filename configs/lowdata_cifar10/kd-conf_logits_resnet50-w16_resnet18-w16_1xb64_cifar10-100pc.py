# Low-data protocol, row "built-in KD with the confidence weight": the
# built-in KD row with MMRazor's KLDivergence replaced by UDSKD's
# EntropyWeightedKDLoss at the same alpha 0.3 / beta 0.7 / tau 4, so the only
# change is w(x) = 1 - H(teacher)/log C on every sample's KD term.
_base_ = ['./kd_logits_resnet50-w16_resnet18-w16_1xb64_cifar10-100pc.py']

model = dict(distiller=dict(distill_losses=dict(loss_kl=dict(
    _delete_=True, type='EntropyWeightedKDLoss', tau=4.0, loss_weight=0.7,
    weighting='entropy'))))
