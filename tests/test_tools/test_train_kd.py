"""MMRazor's built-in KD trains through our tools/train.py on real images,
writes a checkpoint, validates, and resumes; its logged KD term is the
value a recomputation of the same step gives."""
import glob
import json
import os.path as osp

import mmrazor_udskd  # noqa: F401  isort:skip  (before mmrazor)
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from ..conftest import REPO_ROOT

pytestmark = pytest.mark.slow  # trains through tools/train.py

KD_CFG = 'configs/kd/kd_logits_resnet50_resnet18_1xb64_cifar10.py'
RECORD_AT = 4  # the 4th of 7 iterations (100 images, batch 16)


def last_scalars(work_dir: str) -> dict:
    """The last logged validation record of an mmengine work_dir."""
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    assert files, f'no scalars.json under {work_dir}'
    with open(files[-1]) as f:
        records = [json.loads(line) for line in f]
    vals = [r for r in records if 'accuracy/top1' in r]
    assert vals, 'no validation record'
    return vals[-1]


@pytest.fixture(scope='module')
def kd_run(cifar10_tiny, train_cli, tmp_path_factory):
    work_dir = str(tmp_path_factory.mktemp('kd'))
    record = osp.join(work_dir, 'step.pth')
    cfg = osp.join(work_dir, 'kd_recorded.py')
    with open(cfg, 'w') as f:
        f.write(f'_base_ = [{osp.join(REPO_ROOT, KD_CFG)!r}]\n'
                "custom_imports = dict(imports=['mmrazor_udskd', "
                "'tests.helpers.probe_hooks'], allow_failed_imports=False)\n"
                'custom_hooks = _base_.custom_hooks + [dict(type='
                f"'StepRecordHook', at={RECORD_AT}, out={record!r})]\n")
    proc = train_cli(cfg, work_dir, f'data_root={cifar10_tiny}',
                     'model.teacher_ckpt=random',
                     'train_cfg.max_epochs=1',
                     'train_dataloader.batch_size=16',
                     env=dict(PYTHONPATH=REPO_ROOT))
    assert proc.returncode == 0, proc.stdout[-3000:]
    return work_dir, proc, cfg, record


def test_kd_one_epoch_checkpoint_and_top1(kd_run):
    work_dir, proc, _, _ = kd_run
    ckpt = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(ckpt)
    state = torch.load(ckpt, map_location='cpu')  # weights-only default
    keys = state['state_dict'].keys()
    assert any(k.startswith('architecture.backbone.') for k in keys)
    assert any(k.startswith('teacher.backbone.') for k in keys)
    assert state['meta']['epoch'] == 1
    record = last_scalars(work_dir)
    # 100 test images: top-1 is a multiple of 1 % in [0, 100]
    assert 0.0 <= record['accuracy/top1'] <= 100.0
    assert record['accuracy/top1'] <= record['accuracy/top5']
    assert 'teacher.accuracy/top1' in record
    assert 'distill.loss_kl' in proc.stdout


def test_kd_logged_teacher_term_equals_a_recomputation(kd_run):
    """The recorded iteration, recomputed from the weights before it and
    its batch: MMRazor's KD loss and a hand KL give the logged values."""
    from mmengine.config import Config
    from mmrazor.registry import MODELS
    _, _, cfg_path, record_path = kd_run
    # our own file from this run; it holds DataSample-free tensors only
    record = torch.load(record_path, weights_only=True)
    logged = record['logged']
    assert logged['distill.loss_kl'] > 1e-3
    cfg = Config.fromfile(cfg_path)
    model = MODELS.build(dict(cfg.model,
                              data_preprocessor=cfg.data_preprocessor))
    model.load_state_dict(record['state'], strict=True)
    model.train()
    batch = dict(inputs=list(record['inputs']),
                 data_samples=[DataSample().set_gt_label(int(y))
                               for y in record['labels']])
    data = model.data_preprocessor(batch, True)
    with torch.no_grad():
        losses = model.loss(data['inputs'], data['data_samples'])
        # the same term by hand: 0.7 tau^2 KL(p_t || p_s), batch mean
        student = model.architecture(data['inputs'], mode='tensor')
        teacher = model.teacher(data['inputs'], mode='tensor')
    tau = 4.0
    kl = F.kl_div(F.log_softmax(student / tau, 1),
                  F.softmax(teacher / tau, 1), reduction='batchmean')
    assert float(losses['distill.loss_kl']) == pytest.approx(
        logged['distill.loss_kl'], rel=1e-4)
    assert float(0.7 * tau**2 * kl) == pytest.approx(
        logged['distill.loss_kl'], rel=1e-4)
    # the student's CE (alpha 0.3) as logged
    ce = 0.3 * F.cross_entropy(student, record['labels'])
    assert float(ce) == pytest.approx(logged['student.loss'], rel=1e-4)


def test_kd_resume_continues_from_checkpoint(kd_run, train_cli,
                                             cifar10_tiny):
    work_dir, _, cfg, _ = kd_run
    # no model.teacher_ckpt: the teacher's weights come from the checkpoint
    proc = train_cli(cfg, work_dir, f'data_root={cifar10_tiny}',
                     'train_cfg.max_epochs=2',
                     'train_dataloader.batch_size=16',
                     extra_args=['--resume'], env=dict(PYTHONPATH=REPO_ROOT))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert 'resumed epoch: 1' in proc.stdout
    assert 'Epoch(train) [2]' in proc.stdout
    assert 'Epoch(train) [1]' not in proc.stdout
    state = torch.load(osp.join(work_dir, 'epoch_2.pth'), map_location='cpu')
    assert state['meta']['epoch'] == 2
