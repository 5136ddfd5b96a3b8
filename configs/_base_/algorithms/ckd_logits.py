# CKD (Zhu et al., arXiv 2404.14109), sample-wise contrastive logit KD, inside
# MMRazor's SingleTeacherDistill (as CheckedSingleTeacherDistill, which stops a
# run whose teacher has no trained weights) + ConfigurableDistiller: the heads'
# fc outputs are recorded and fed to our ContrastiveLogitKDLoss; the student's own CE
# (weight 1.0) lives in its head's loss. The authors' settings (temperature /
# loss_weight): 1.0 / 100 most CIFAR-100 pairs, 2.0 / 50 vgg13->mv2 and
# wrn40_2->wrn40_1, 1.0 / 10 res56->res20 and ImageNet. Leaf configs set the
# pair they use.
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
            loss_ckd=dict(
                type='ContrastiveLogitKDLoss',
                temperature=1.0,
                loss_weight=10.0,
                symmetric=False,
                # per-rank negatives; True all-gathers every rank's samples
                gather_negatives=False)),
        loss_forward_mappings=dict(
            loss_ckd=dict(
                preds_S=dict(from_student=True, recorder='fc'),
                preds_T=dict(from_student=False, recorder='fc')))))
find_unused_parameters = True
