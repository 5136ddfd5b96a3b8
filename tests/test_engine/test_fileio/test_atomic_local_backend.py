"""Checkpoints are written atomically."""
import os

import pytest
import torch
from mmengine.fileio import get_file_backend

import mmrazor_udskd  # noqa: F401
from mmrazor_udskd.engine.fileio import AtomicLocalBackend


class Crash(Exception):
    pass


def test_backend_is_selected_by_backend_args(tmp_path):
    backend = get_file_backend(str(tmp_path / 'x.pth'),
                               backend_args=dict(backend='atomic_local'))
    assert isinstance(backend, AtomicLocalBackend)


def test_crash_during_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    backend = AtomicLocalBackend()
    path = tmp_path / 'epoch_1.pth'
    backend.put(b'complete-old-checkpoint', path)

    real_fsync = os.fsync

    def crash_after_half(fd):
        raise Crash('killed while writing')

    monkeypatch.setattr(os, 'fsync', crash_after_half)
    with pytest.raises(Crash):
        backend.put(b'new-checkpoint-that-never-finishes' * 1000, path)
    monkeypatch.setattr(os, 'fsync', real_fsync)
    # the old file is intact and no temporary file is left behind
    assert path.read_bytes() == b'complete-old-checkpoint'
    assert sorted(os.listdir(tmp_path)) == ['epoch_1.pth']


def test_plain_local_backend_would_truncate(tmp_path, monkeypatch):
    # negative control: mmengine's LocalBackend writes in place, so the same
    # crash leaves a truncated file under the final name
    from mmengine.fileio import LocalBackend
    path = tmp_path / 'epoch_1.pth'
    path.write_bytes(b'complete-old-checkpoint')
    import io
    real_open = open

    class HalfWriter(io.BufferedWriter):
        pass

    def crashing_open(file, mode='r', *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        if 'w' in mode:
            orig_write = f.write

            def write(data):
                orig_write(data[:len(data) // 2])
                raise Crash('killed while writing')

            f.write = write
        return f

    monkeypatch.setattr('builtins.open', crashing_open)
    with pytest.raises(Crash):
        LocalBackend().put(b'x' * 100, path)
    monkeypatch.setattr('builtins.open', real_open)
    assert path.read_bytes() == b'x' * 50  # truncated: the old one is gone


def test_text_and_torch_roundtrip(tmp_path):
    backend = AtomicLocalBackend()
    backend.put_text('epoch_3.pth', tmp_path / 'last_checkpoint')
    assert (tmp_path / 'last_checkpoint').read_text() == 'epoch_3.pth'
    import io
    buf = io.BytesIO()
    torch.save({'w': torch.arange(3)}, buf)
    backend.put(buf.getvalue(), tmp_path / 'a.pth')
    assert torch.equal(torch.load(tmp_path / 'a.pth')['w'], torch.arange(3))
