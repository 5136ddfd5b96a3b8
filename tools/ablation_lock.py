"""The run lock of ``tools/run_ablation.py``: one instance trains a run.

Several instances of the tool may share one work dir (one per machine, or
``--seeds 2 1 0`` beside ``--seeds 0 1 2``); each takes a run's
``ablation.lock`` (``host pid``) before training it. A lock whose owner ran
on this host and is gone (killed, machine restarted) is stale and taken
over; another host's lock is respected, since its owner cannot be checked.
"""
import os
import socket
import time

__all__ = ['LOCK', 'take_lock']

#: held in a run's work dir while some instance of the tool trains it
LOCK = 'ablation.lock'


def _lock_owner_alive(lock: str) -> bool:
    """Whether the process that wrote ``lock`` (``host pid``) may still run:
    True unless it ran on this host and is gone. An empty lock (older
    versions wrote no owner) counts as stale unless it was created in the
    last seconds (its owner may not have written yet)."""
    try:
        with open(lock) as f:
            host, pid = f.read().split()
        pid = int(pid)
    except (OSError, ValueError):
        try:
            return time.time() - os.path.getmtime(lock) < 10
        except OSError:
            return False
    if host != socket.gethostname():
        return True  # another machine's instance: cannot tell
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def take_lock(lock: str) -> bool:
    """Create ``lock`` for this process; a lock left by a process of this
    host that no longer runs (killed, machine restarted) is taken over.

    Args:
        lock (str): The lock file's path.

    Returns:
        bool: Whether this process now holds the lock.
    """
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            if _lock_owner_alive(lock):
                return False
            os.remove(lock)  # stale
            continue
        with os.fdopen(fd, 'w') as f:
            f.write(f'{socket.gethostname()} {os.getpid()}\n')
        return True
    return False
