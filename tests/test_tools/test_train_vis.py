"""tools/train.py --vis tensorboard: a short UDSKD run writes TensorBoard
event files with every student's losses, learning rate and metrics and the
teacher-confidence statistics, equal to what the JSON backend logs."""
import glob
import json
import os.path as osp

import pytest

from tests.test_configs._tiny import (REPO_ROOT, cfg_path, udskd_models,
                                      write_config, write_image_tree)

UDSKD_C10 = ('udskd/udskd_logits_resnet50_resnet18-mobilenet-v2_1xb64_'
             'cifar10.py')


def _load_train_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'udskd_train_tool', osp.join(REPO_ROOT, 'tools', 'train.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_vis_flag_adds_the_backend_once():
    from mmengine.config import Config
    train = _load_train_module()
    cfg = Config.fromfile(cfg_path(UDSKD_C10))
    args = train.parse_args([cfg_path(UDSKD_C10), '--vis', 'tensorboard'])
    pytest.importorskip('tensorboard')
    cfg = train.merge_args(cfg, args)
    types = [b['type'] for b in cfg.visualizer.vis_backends]
    assert types == ['LocalVisBackend', 'TensorboardVisBackend']
    train.add_vis_backends(cfg, ['tensorboard'])  # idempotent
    assert [b['type'] for b in cfg.visualizer.vis_backends] == types
    plain = train.merge_args(Config.fromfile(cfg_path(UDSKD_C10)),
                             train.parse_args([cfg_path(UDSKD_C10)]))
    assert [b['type'] for b in plain.visualizer.vis_backends] == [
        'LocalVisBackend']


def _read_events(path: str) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import \
        EventAccumulator
    acc = EventAccumulator(path, size_guidance={'scalars': 0})
    acc.Reload()
    return {
        tag: {e.step: e.value for e in acc.Scalars(tag)}
        for tag in acc.Tags()['scalars']
    }


@pytest.mark.slow
def test_tensorboard_event_files_hold_every_student(tmp_path, train_cli):
    pytest.importorskip('tensorboard')
    data = str(tmp_path / 'data')
    write_image_tree(data, {'train': 2, 'test': 1}, num_classes=10)
    config = write_config(str(tmp_path / 'udskd_tb.py'), [cfg_path(UDSKD_C10)],
                          udskd_models(10))
    work_dir = str(tmp_path / 'work')
    proc = train_cli(config, work_dir, f'data_root={data}',
                     extra_args=['--vis', 'tensorboard'])
    assert proc.returncode == 0, proc.stdout[-3000:]
    events = glob.glob(osp.join(work_dir, '*', 'vis_data',
                                'events.out.tfevents.*'))
    assert len(events) == 1, events
    scalars = _read_events(events[0])
    tags = set(scalars)
    for name in ('r18', 'mbv2'):
        for term in ('loss', 'loss_ce', 'loss_teacher', 'loss_peer'):
            assert f'{name}.{term}' in tags
        assert f'{name}.lr' in tags
        for metric in ('accuracy/top1', 'accuracy/top5'):
            assert f'{name}/{metric}' in tags
    assert 'ensemble/accuracy/top1' in tags
    for stat in ('weight_mean', 'entropy_t1', 'entropy_tau',
                 'uncertain_ratio'):
        assert f'stats.{stat}' in tags
    # 20 train images, batch 8 -> 3 iterations, each one logged
    assert sorted(scalars['r18.loss']) == [1, 2, 3]
    for w in scalars['stats.weight_mean'].values():
        assert 0.0 <= w <= 1.0
    # the same numbers as the JSON backend's scalars.json
    json_path = glob.glob(osp.join(work_dir, '*', 'vis_data',
                                   'scalars.json'))[0]
    with open(json_path) as f:
        rows = [json.loads(line) for line in f]
    train_rows = [r for r in rows if 'r18.loss' in r]
    assert len(train_rows) == 3
    for row in train_rows:
        for tag in ('r18.loss', 'mbv2.loss_teacher', 'stats.weight_mean',
                    'mbv2.lr'):
            assert scalars[tag][row['step']] == pytest.approx(row[tag],
                                                              rel=1e-5)
    val_row = [r for r in rows if 'r18/accuracy/top1' in r][0]
    assert scalars['r18/accuracy/top1'][val_row['step']] == pytest.approx(
        val_row['r18/accuracy/top1'])
