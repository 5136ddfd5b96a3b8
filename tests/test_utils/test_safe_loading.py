"""Teacher checkpoints (local or URL) and exported students load
weights-only; a checkpoint whose pickle would run code is refused with a
message naming the file, and its code never runs."""
import functools
import http.server
import os
import pickle
import re
import subprocess
import sys
import textwrap
import threading
from typing import Iterator

import mmrazor_udskd  # noqa: F401  isort:skip  (before mmrazor)
import pytest
import torch
from mmrazor.registry import MODELS

from mmrazor_udskd.compat import applied_patches
from mmrazor_udskd.utils.weights_only import (UnsafeCheckpointError,
                                              force_weights_only,
                                              load_weights_only)
from ..helpers.runner_configs import (assert_weights_only_is_default,
                                      write_config)
from ..helpers.tiny_models import tiny_pair


class Hostile:
    """A pickle that creates ``marker`` when it is loaded."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def _algorithm(**kwargs) -> dict:
    cfg = dict(_scope_='mmrazor', type='MultiStudentDistill',
               teacher=tiny_pair(width=8),
               students=dict(r18=tiny_pair(), mbv2=tiny_pair(width=6)),
               teacher_ckpt='random')
    cfg.update(kwargs)
    return cfg


def _teacher_state() -> dict:
    torch.manual_seed(1)
    teacher = MODELS.build(tiny_pair(width=8))
    teacher.init_weights()
    return teacher.state_dict()


@pytest.fixture
def served(tmp_path, monkeypatch) -> Iterator[tuple]:
    """A folder served over http://127.0.0.1 and an empty torch hub cache;
    yields ``(folder, base_url)``."""
    folder = tmp_path / 'www'
    folder.mkdir()
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f'http://127.0.0.1:{server.server_address[1]}'
    finally:
        server.shutdown()
        server.server_close()


def test_hostile_local_teacher_checkpoint_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'teacher.pth'
    torch.save({'state_dict': _teacher_state(),
                'meta': Hostile(str(marker))}, path)
    with pytest.raises(UnsafeCheckpointError) as info:
        MODELS.build(_algorithm(teacher_ckpt=str(path)))
    msg = str(info.value)
    assert 'model.teacher_ckpt' in msg and str(path) in msg
    assert 'not a plain-weights checkpoint' in msg
    assert 'io.open' in msg or 'builtins.open' in msg  # what it would run
    assert not marker.exists()
    assert_weights_only_is_default(str(tmp_path))


def test_teacher_checkpoint_over_http_is_weights_only(served, tmp_path):
    folder, url = served
    marker = tmp_path / 'pwned'
    good = _teacher_state()
    torch.save({'state_dict': good, 'meta': {'epoch': 3}},
               folder / 'teacher.pth')
    torch.save({'state_dict': good, 'meta': Hostile(str(marker))},
               folder / 'hostile.pth')
    # MMEngine's http loader goes through torch.hub with
    # weights_only=False; the teacher is loaded under force_weights_only
    model = MODELS.build(_algorithm(teacher_ckpt=f'{url}/teacher.pth'))
    for key, value in good.items():
        assert torch.equal(model.teacher.state_dict()[key], value), key
    with pytest.raises(UnsafeCheckpointError,
                       match=r'`model\.teacher_ckpt`: refused to load '
                       r"'http://127\.0\.0\.1:\d+/hostile\.pth'.*"
                       r'needs (io|builtins)\.open'):
        MODELS.build(_algorithm(teacher_ckpt=f'{url}/hostile.pth'))
    assert not marker.exists()
    assert 'TORCH_FORCE_WEIGHTS_ONLY_LOAD' not in os.environ  # restored


def test_exported_student_loads_weights_only(tmp_path):
    """The export format of tools/model_converters/export_students.py loads
    through mmpretrain.get_model weights-only; a hostile one is refused."""
    from mmengine.config import Config
    from mmpretrain import get_model
    torch.manual_seed(2)
    student = MODELS.build(tiny_pair())
    student.init_weights()
    path = tmp_path / 'r18.pth'
    torch.save({'state_dict': student.state_dict(),
                'meta': {'dataset_meta': {'classes': list('abcde')},
                         'source': 'x.pth'}}, path)
    cfg = tiny_pair()
    cfg.pop('_scope_')
    loaded = get_model(Config(dict(model=cfg)), pretrained=str(path))
    for key, value in student.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    # our loader also names the file for an exported student
    assert set(load_weights_only(str(path), 'students.r18')) == {
        'state_dict', 'meta'}
    marker = tmp_path / 'pwned'
    torch.save({'state_dict': student.state_dict(),
                'meta': Hostile(str(marker))}, path)
    with pytest.raises(pickle.UnpicklingError,
                       match='Weights only load failed'):
        get_model(Config(dict(model=cfg)), pretrained=str(path))
    with pytest.raises(UnsafeCheckpointError, match='r18.pth'):
        load_weights_only(str(path), 'students.r18')
    assert not marker.exists()


def test_force_weights_only_overrides_explicit_false(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'x.pth'
    torch.save({'x': Hostile(str(marker))}, path)
    with force_weights_only(), pytest.raises(pickle.UnpicklingError,
                                             match='Weights only'):
        torch.load(path, weights_only=False)
    assert 'TORCH_FORCE_WEIGHTS_ONLY_LOAD' not in os.environ
    assert not marker.exists()


@pytest.mark.xfail(
    'http_weights_only' not in applied_patches(), strict=True,
    reason='MMEngine loads http(s) checkpoints (load_from=URL, '
    'get_model(pretrained=URL), init_cfg) through '
    'torch.hub.load_state_dict_from_url(weights_only=False); only the '
    'teacher loader forces weights-only until a compat patch '
    '"http_weights_only" wraps CheckpointLoader')
def test_mmengine_http_loader_is_weights_only(served, tmp_path):
    """MMEngine's own http(s) loader (``load_from=URL``,
    ``pretrained=URL``) loads a plain checkpoint and refuses one whose
    pickle would run code, naming the global it would call."""
    from mmengine.runner.checkpoint import CheckpointLoader
    folder, url = served
    marker = tmp_path / 'pwned'
    good = _teacher_state()
    torch.save({'state_dict': good, 'meta': {'epoch': 3}},
               folder / 'good.pth')
    torch.save({'state_dict': good, 'meta': Hostile(str(marker))},
               folder / 'm.pth')
    loaded = CheckpointLoader.load_checkpoint(f'{url}/good.pth',
                                              map_location='cpu')
    assert loaded['meta'] == {'epoch': 3}
    assert set(loaded['state_dict']) == set(good)
    for key, value in good.items():
        assert torch.equal(loaded['state_dict'][key], value), key
    with pytest.raises(pickle.UnpicklingError,
                       match='Weights only load failed') as info:
        CheckpointLoader.load_checkpoint(f'{url}/m.pth', map_location='cpu')
    assert re.search(r'GLOBAL (io|builtins)\.open', str(info.value))
    assert not marker.exists()


#: writes a runner-style checkpoint as plain MMEngine does (without this
#: package's HistoryBuffer pickling): its message hub's HistoryBuffer
#: carries the statistics functions, which unpickle through getattr
_PLAIN_MMENGINE_SAVE = textwrap.dedent("""
    import sys, torch
    from mmengine.logging.history_buffer import HistoryBuffer
    state = torch.load(sys.argv[2], weights_only=True)
    hub = dict(log_scalars={'train/loss': HistoryBuffer([1.0], [1])},
               runtime_info=dict(epoch=1, iter=2))
    torch.save(dict(meta=dict(epoch=1, iter=2), state_dict=state,
                    message_hub=hub), sys.argv[1])
""")


class _Getattr:
    """A pickle that calls ``builtins.getattr`` (the door to calling any
    attribute of anything it can reach)."""

    def __reduce__(self):
        return (getattr, ('text', 'upper'))


@pytest.fixture
def refused_checkpoints(tmp_path) -> dict:
    """``{'mmengine': path, 'getattr': path}``: a checkpoint written by plain
    MMEngine in a fresh interpreter, and one whose pickle calls getattr."""
    weights = tmp_path / 'weights.pth'
    torch.save(_teacher_state(), weights)
    paths = dict(mmengine=tmp_path / 'plain_mmengine.pth',
                 getattr=tmp_path / 'getattr.pth')
    subprocess.run([sys.executable, '-c', _PLAIN_MMENGINE_SAVE,
                    str(paths['mmengine']), str(weights)], check=True,
                   env=dict(os.environ, PYTHONWARNINGS='ignore'))
    torch.save({'state_dict': _teacher_state(), 'meta': _Getattr()},
               paths['getattr'])
    return {k: str(v) for k, v in paths.items()}


@pytest.mark.parametrize('kind', ['mmengine', 'getattr'])
def test_getattr_pickles_are_refused(refused_checkpoints, kind):
    path = refused_checkpoints[kind]
    with pytest.raises(pickle.UnpicklingError,
                       match=r'(?s)Weights only load failed.*getattr'):
        torch.load(path)  # the default, as MMEngine's runner calls it
    with pytest.raises(UnsafeCheckpointError,
                       match=r'`model\.teacher_ckpt`: refused to load .*'
                       r'\(it needs [\w.]*getattr\)'):
        MODELS.build(_algorithm(teacher_ckpt=path))
    with pytest.raises(UnsafeCheckpointError, match=re.escape(path)):
        load_weights_only(path, 'load_from')


@pytest.mark.slow
def test_train_resume_and_load_from_refuse_them(refused_checkpoints,
                                                cifar10_tiny, train_cli,
                                                tmp_path):
    """tools/train.py stops before the first iteration, with torch's
    weights-only refusal naming getattr, when it resumes from a plain
    MMEngine checkpoint or loads ``load_from`` whose pickle calls getattr.
    """
    cfg = write_config(str(tmp_path / 'tiny.py'))
    small = [f'data_root={cifar10_tiny}', 'train_dataloader.batch_size=4',
             'train_dataloader.dataset.indices=4',
             'val_dataloader.dataset.indices=4', 'train_cfg.max_epochs=1']
    resume_dir = tmp_path / 'resume'
    resume_dir.mkdir()
    (resume_dir / 'last_checkpoint').write_text(
        refused_checkpoints['mmengine'])
    runs = dict(
        resume=train_cli(cfg, str(resume_dir), *small,
                         extra_args=['--resume']),
        load_from=train_cli(cfg, str(tmp_path / 'load_from'), *small,
                            f"load_from={refused_checkpoints['getattr']}"))
    for how, proc in runs.items():
        assert proc.returncode != 0, (how, proc.stdout[-3000:])
        assert 'Weights only load failed' in proc.stdout, (
            how, proc.stdout[-3000:])
        assert re.search(r'GLOBAL [\w.]*getattr', proc.stdout), how
        assert 'Epoch(train)' not in proc.stdout, how
    assert 'resume' in runs['resume'].stdout.lower()
