"""A local file backend whose writes are atomic."""
import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import Union

import mmengine
from mmengine.fileio import LocalBackend, register_backend

__all__ = ['AtomicLocalBackend', 'atomic_write_bytes']


def atomic_write_bytes(data: bytes, filepath: Union[str, Path]) -> None:
    """Write ``data`` to ``filepath`` so that it is either complete or absent.

    The bytes go to a temporary file in the same folder, are flushed and
    fsync'ed, then renamed over ``filepath`` (``os.replace`` is atomic on
    POSIX and Windows). A crash at any point leaves the previous file, if
    any, untouched and never a truncated file under the final name.

    Args:
        data (bytes): File contents.
        filepath (str | Path): Destination.
    """
    filepath = str(filepath)
    folder = osp.dirname(osp.abspath(filepath))
    mmengine.mkdir_or_exist(folder)
    fd, tmp = tempfile.mkstemp(prefix='.' + osp.basename(filepath) + '.',
                               suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):
    """MMEngine's ``LocalBackend`` with atomic ``put`` / ``put_text``.

    Checkpoints, ``last_checkpoint`` and best-checkpoint files written through
    this backend are never left half-written by a crash or ``SIGKILL``: the
    run can always be resumed from the previous complete checkpoint. Select
    it for the checkpoint hook with
    ``default_hooks.checkpoint.backend_args=dict(backend='atomic_local')``
    (our ``configs/_base_/default_runtime.py`` does).
    """

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Atomically write bytes to ``filepath``.

        Args:
            obj (bytes): Data to be written.
            filepath (str | Path): Path to write data.
        """
        atomic_write_bytes(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        """Atomically write text to ``filepath``.

        Args:
            obj (str): Text to be written.
            filepath (str | Path): Path to write data.
            encoding (str): Text encoding. Defaults to 'utf-8'.
        """
        atomic_write_bytes(obj.encode(encoding), filepath)
