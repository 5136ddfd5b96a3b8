# MMRazor's built-in logit KD (Hinton et al.): SingleTeacherDistill (as
# CheckedSingleTeacherDistill, which stops a run whose teacher has no trained
# weights) + ConfigurableDistiller + KLDivergence on the heads' fc outputs. The student's
# own CE weight (alpha) lives in its head's loss; beta is KLDivergence's
# loss_weight. The paper's KD baseline: alpha 0.3, beta 0.7, tau 4.
model = dict(
    _scope_='mmrazor',
    type='CheckedSingleTeacherDistill',
    # required: the trained teacher (or 'random' for smoke runs)
    teacher_ckpt=None,
    teacher_norm_eval=True,
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(
            fc=dict(type='ModuleOutputs', source='head.fc')),
        teacher_recorders=dict(
            fc=dict(type='ModuleOutputs', source='head.fc')),
        distill_losses=dict(
            loss_kl=dict(type='KLDivergence', tau=4, loss_weight=0.7)),
        loss_forward_mappings=dict(
            loss_kl=dict(
                preds_S=dict(from_student=True, recorder='fc'),
                preds_T=dict(from_student=False, recorder='fc')))))
find_unused_parameters = True
