"""MultiStudentDistill under MMSeparateDistributedDataParallel (2 CPU ranks,
gloo): every student is its own DDP and its gradients are all-reduced."""
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _init_group(rank: int, world: int, store: str) -> None:
    """A gloo group over a file store (no port to pick and release)."""
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{store}', rank=rank,
                            world_size=world)


def _worker(rank: int, world: int, store: str, out_dir: str) -> None:
    _init_group(rank, world, store)
    try:
        from mmengine.model import MMSeparateDistributedDataParallel
        from mmengine.model.wrappers import MMDistributedDataParallel

        from ...helpers.udskd_tiny import (build_algorithm, make_batch,
                                           separate_optim)

        model = build_algorithm()  # same seed on every rank
        wrapped = MMSeparateDistributedDataParallel(
            model, broadcast_buffers=False, find_unused_parameters=False)
        for name in ('r18', 'mbv2'):
            assert isinstance(model._modules[name], MMDistributedDataParallel)
        assert not isinstance(model.teacher, MMDistributedDataParallel)
        optim = separate_optim(wrapped)
        wrapped.train()
        before = {k: v.clone() for k, v in
                  model.students['r18'].state_dict().items()}
        # different data on each rank
        for step in range(2):
            log = wrapped.train_step(make_batch(8, seed=10 * rank + step),
                                     optim)
        wrapped.eval()
        with torch.no_grad():
            data = model.data_preprocessor(make_batch(4, seed=99), False)
            preds = model.predict_all(**data)
        torch.save({
            'r18': model.students['r18'].state_dict(),
            'mbv2': model.students['mbv2'].state_dict(),
            'before': before,
            'loss': log['r18.loss'],
            'ensemble': torch.stack([p.pred_score for p in preds['ensemble']]),
        }, os.path.join(out_dir, f'rank{rank}.pth'))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_separate_ddp_syncs_each_student(tmp_path):
    world = 2
    mp.spawn(_worker, args=(world, str(tmp_path / 'store'), str(tmp_path)),
             nprocs=world, join=True)
    r0 = torch.load(tmp_path / 'rank0.pth', weights_only=True)
    r1 = torch.load(tmp_path / 'rank1.pth', weights_only=True)
    # different data -> different local losses ...
    assert not torch.equal(r0['loss'], r1['loss'])
    # ... but all-reduced gradients -> identical weights on both ranks
    for name in ('r18', 'mbv2'):
        for key, value in r0[name].items():
            if 'running' in key or 'num_batches' in key:
                continue  # BN statistics stay local (broadcast_buffers off)
            torch.testing.assert_close(value, r1[name][key], msg=key)
    assert not torch.equal(r0['r18']['head.fc.weight'],
                           r0['before']['head.fc.weight'])
    torch.testing.assert_close(r0['ensemble'].sum(1), torch.ones(4))


def _ckpt_worker(rank: int, world: int, store: str, out_dir: str) -> None:
    """The same two steps, plain and with the mbv2 student's blocks
    checkpointed, each student in its own DDP."""
    _init_group(rank, world, store)
    try:
        from mmengine.model import MMSeparateDistributedDataParallel

        from ...helpers.udskd_tiny import (build_algorithm, make_batch,
                                           separate_optim)

        states = {}
        for tag, spec in (('plain', None),
                          ('ckpt', dict(mbv2=['backbone.layer1.*']))):
            model = build_algorithm(activation_checkpoint=spec)
            wrapped = MMSeparateDistributedDataParallel(
                model, broadcast_buffers=False, find_unused_parameters=False)
            optim = separate_optim(wrapped)
            wrapped.train()
            for step in range(2):
                wrapped.train_step(make_batch(8, seed=10 * rank + step),
                                   optim)
            states[tag] = model.students['mbv2'].state_dict()
        torch.save(states, os.path.join(out_dir, f'rank{rank}.pth'))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_checkpointed_student_under_separate_ddp(tmp_path):
    """Recomputed blocks inside a student's own DDP: gradients are still
    all-reduced (equal weights on both ranks) and equal the plain run's;
    the local BatchNorm statistics are updated once per step."""
    world = 2
    mp.spawn(_ckpt_worker,
             args=(world, str(tmp_path / 'store'), str(tmp_path)),
             nprocs=world, join=True)
    ranks = [torch.load(tmp_path / f'rank{r}.pth', weights_only=True)
             for r in range(world)]
    for key, value in ranks[0]['ckpt'].items():
        torch.testing.assert_close(value, ranks[0]['plain'][key],
                                   atol=1e-6, rtol=1e-5, msg=key)
        if 'running' not in key and 'num_batches' not in key:
            torch.testing.assert_close(value, ranks[1]['ckpt'][key], msg=key)
    key = 'backbone.layer1.0.bn1.num_batches_tracked'
    assert int(ranks[0]['ckpt'][key]) == 2
