# UDSKD: uncertainty-aware dual-student KD (Gore, Dey, Mishra, arXiv
# 2511.18826). One frozen teacher, two peer students trained together; each
# student i minimises
#   L_i = alpha * CE + beta * w-weighted KD(teacher) + gamma * KL(peer)
# with w = 1 - H(teacher) / log C, tau 4, alpha .4, beta .4, gamma .2.
# Children set model.teacher and model.students (names become loss keys,
# metric prefixes, optimizer keys and checkpoint keys) and list a dataset and
# a nets base before this file. This file brings the paper's schedule
# (SGD 0.1, m 0.9, wd 1e-4, cosine to 0, 50 epochs) and the runtime, so a
# child must not list them again.
_base_ = ['../schedules/sgd_cosine_50e.py', '../default_runtime.py']

model = dict(
    _scope_='mmrazor',
    type='MultiStudentDistill',
    # children add teacher=<model dict> and students=dict(r18=..., mbv2=...)
    # required (the run stops before training without it): a checkpoint of
    # ../../baselines/resnet50_*.py, e.g. --cfg-options
    # model.teacher_ckpt=work_dirs/resnet50_.../best_*.pth, unless the
    # teacher config loads pretrained weights (init_cfg type 'Pretrained');
    # 'random' runs with a random teacher on purpose (tests, smoke runs)
    teacher_ckpt=None,
    alpha=0.4,
    beta=0.4,
    gamma=0.2,
    # one temperature for both terms: the loss configs below set no tau of
    # their own and follow model.tau (--cfg-options model.tau=2 changes both)
    tau=4.0,
    teacher_loss=dict(type='EntropyWeightedKDLoss', weighting='entropy'),
    peer_loss=dict(type='PeerKLLoss'),
    teacher_norm_eval=True,
    val_teacher=True)

# one optimizer per student, whatever their names and number: the default
# wrapper below is built for every name in model.students; a student's own
# settings go under its name and are merged into the default, e.g.
#   optim_wrapper = dict(mbv2=dict(optimizer=dict(lr=0.05)))
optim_wrapper = dict(
    _delete_=True,
    constructor='mmrazor.StudentOptimWrapperConstructor',
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))

# every student, their ensemble and the teacher scored in one pass:
# <student>/accuracy/top1 for each student, ensemble/..., teacher/...
val_cfg = dict(_delete_=True, type='mmrazor.MultiModelValLoop')
test_cfg = dict(_delete_=True, type='mmrazor.MultiModelValLoop',
                stage='test')
# 'auto' keeps the best checkpoint by the first metric of the pass: the top-1
# of the first student in model.students (e.g. r18/accuracy/top1). Set e.g.
# save_best='ensemble/accuracy/top1' to follow the ensemble instead.
default_hooks = dict(checkpoint=dict(save_best='auto'))

# each student in its own DDP (separate optimizers, no unused parameters)
model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel',
                         broadcast_buffers=False,
                         find_unused_parameters=False)
