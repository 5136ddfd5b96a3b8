# DML, Deep Mutual Learning (Zhang, Xiang, Hospedales, Lu, CVPR 2018): the
# students learn from their labels and from each other, with no teacher.
# MultiStudentDistill with teacher=None: no teacher is built or run, the
# teacher term (beta) and the teacher-confidence statistics are absent, and
# validation scores the students and their ensemble. Each student i minimises
#   L_i = alpha * CE + gamma * tau^2 * KL(p_peer || p_i)   (mean over peers)
# Weights: alpha .4, gamma .2, tau 4, exactly the UDSKD rows with the teacher
# term removed, so that a DML row differs from full UDSKD only by the teacher.
# The paper's DML weighs CE and the peer KL equally at temperature 1; for that
# set model.gamma=0.4 model.tau=1.0 (gamma = alpha).
# Children list a dataset and a nets base before this file and set
# model.students (any names, any number >= 2).
_base_ = ['./udskd.py']

model = dict(
    teacher=None,
    teacher_ckpt=None,
    teacher_loss=None,
    beta=0.0,
    val_teacher=False)
