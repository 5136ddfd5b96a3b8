# DKD, decoupled knowledge distillation (Zhao et al., arXiv 2203.08679), as
# MMRazor ships it: SingleTeacherDistill (as CheckedSingleTeacherDistill, which
# stops a run whose teacher has no trained weights) + ConfigurableDistiller +
# DKDLoss on the heads' fc outputs; the labels are recorded at the student's loss
# module. The DKD paper's CIFAR-100 setting: TCKD weight alpha 1, NCKD
# weight beta 8, tau 4, the student's own CE weight 1 (in its head's loss),
# and the DKD term warmed up linearly over the first 20 epochs: leaf configs
# add `dkd_warmup_hook` (DistillLossWarmupHook) to their custom_hooks.
model = dict(
    _scope_='mmrazor',
    type='CheckedSingleTeacherDistill',
    # required: the trained teacher (or 'random' for smoke runs)
    teacher_ckpt=None,
    teacher_norm_eval=True,
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(
            fc=dict(type='ModuleOutputs', source='head.fc'),
            gt_labels=dict(type='ModuleInputs', source='head.loss_module')),
        teacher_recorders=dict(
            fc=dict(type='ModuleOutputs', source='head.fc')),
        distill_losses=dict(
            loss_dkd=dict(type='DKDLoss', tau=4.0, alpha=1.0, beta=8.0,
                          reduction='batchmean', loss_weight=1.0)),
        loss_forward_mappings=dict(
            loss_dkd=dict(
                preds_S=dict(from_student=True, recorder='fc'),
                preds_T=dict(from_student=False, recorder='fc'),
                gt_labels=dict(recorder='gt_labels', from_student=True,
                               data_idx=1)))))
find_unused_parameters = True

dkd_warmup_hook = dict(type='DistillLossWarmupHook', loss_names=['loss_dkd'],
                       warmup_epochs=20)
