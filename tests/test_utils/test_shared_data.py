"""extract_dataset: one extraction however many processes ask at once."""
import io
import os
import tarfile
import threading
import time

import pytest

from mmrazor_udskd.utils import shared_data

FILES = {'cifar10/train/cat/0.txt': b'cat', 'cifar10/test/dog/1.txt': b'dog'}


@pytest.fixture
def archive(tmp_path, monkeypatch) -> str:
    """A two-file ``cifar10-jpg.tar.gz`` in a shared data folder and an
    empty cache folder, both through the environment; returns the cache."""
    data, cache = tmp_path / 'data', tmp_path / 'cache'
    data.mkdir()
    with tarfile.open(data / 'cifar10-jpg.tar.gz', 'w:gz') as tar:
        for name, payload in FILES.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    monkeypatch.setenv('MMRAZOR_UDSKD_SHARED_DATA', str(data))
    monkeypatch.setenv('MMRAZOR_UDSKD_CACHE', str(cache))
    return str(cache)


def _tree(root: str) -> dict:
    out = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, 'rb') as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


def test_concurrent_callers_share_one_extraction(archive, monkeypatch):
    calls = []
    real = tarfile.TarFile.extractall

    def slow_extractall(self, *args, **kwargs):
        calls.append(threading.get_ident())
        time.sleep(0.5)  # the other caller arrives meanwhile
        return real(self, *args, **kwargs)

    monkeypatch.setattr(tarfile.TarFile, 'extractall', slow_extractall)
    roots, errors = [], []

    def call():
        try:
            roots.append(shared_data.extract_dataset('cifar10'))
        except Exception as exc:  # reported below, with the thread's error
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    root = os.path.join(archive, 'cifar10')
    assert roots == [root, root]
    assert len(calls) == 1  # the second caller waited and reused it
    assert _tree(root) == {k.split('/', 1)[1]: v for k, v in FILES.items()}
    # nothing but the tree, its completion marker and the lock file
    assert sorted(os.listdir(archive)) == ['.cifar10.done', '.cifar10.lock',
                                           'cifar10']
    # later calls do not extract again
    assert shared_data.extract_dataset('cifar10') == root
    assert len(calls) == 1


def test_tree_without_completion_marker_is_replaced(archive):
    root = os.path.join(archive, 'cifar10')
    os.makedirs(os.path.join(root, 'train'))
    with open(os.path.join(root, 'train', 'half_written.txt'), 'w') as f:
        f.write('x')
    assert shared_data.extract_dataset('cifar10') == root
    assert _tree(root) == {k.split('/', 1)[1]: v for k, v in FILES.items()}


def test_missing_archive_gives_none(archive, tmp_path, monkeypatch):
    # an existing shared folder without the archive
    empty = tmp_path / 'empty'
    empty.mkdir()
    monkeypatch.setenv('MMRAZOR_UDSKD_SHARED_DATA', str(empty))
    assert shared_data.extract_dataset('cifar10') is None
