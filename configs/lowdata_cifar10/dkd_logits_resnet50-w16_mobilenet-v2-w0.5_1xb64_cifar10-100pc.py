# Low-data protocol, row "built-in DKD": MMRazor's DKDLoss (Zhao et al.,
# CVPR 2022; CIFAR settings alpha 1, beta 8, tau 4) with the student's CE at
# weight 1, quarter-width R50 teacher -> mobilenet-v2-w0.5, 100 CIFAR-10 train images
# per class.
_base_ = ['./kd_logits_resnet50-w16_mobilenet-v2-w0.5_1xb64_cifar10-100pc.py']

model = dict(
    architecture=dict(head=dict(loss=dict(loss_weight=1.0))),
    distiller=dict(
        student_recorders=dict(gt_labels=dict(
            type='ModuleInputs', source='head.loss_module')),
        distill_losses=dict(
            _delete_=True,
            loss_dkd=dict(type='DKDLoss', tau=4.0, alpha=1.0, beta=8.0,
                          loss_weight=1.0, reduction='batchmean')),
        loss_forward_mappings=dict(
            _delete_=True,
            loss_dkd=dict(
                preds_S=dict(from_student=True, recorder='fc'),
                preds_T=dict(from_student=False, recorder='fc'),
                gt_labels=dict(recorder='gt_labels', from_student=True,
                               data_idx=1)))))

# the DKD term warmed up linearly over the first 20 epochs, as in configs/dkd/
# (the DKD paper's recipe): at full weight from the first step the
# MobileNetV2 student's loss is NaN within the first epoch
custom_hooks = _base_.custom_hooks + [
    dict(type='DistillLossWarmupHook', loss_names=['loss_dkd'],
         warmup_epochs=20)
]
