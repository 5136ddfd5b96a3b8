"""Locate, extract and subset the real image sets in ``../shared/data``.

Tests, benchmarks and the ablation tool read CIFAR-10 and Tiny-ImageNet from
the archives beside the project, extract them once into a cache folder and
build small class-balanced subsets as symlink trees that mmpretrain's
``CustomDataset`` reads.
"""
import os
import os.path as osp
import shutil
import tarfile
import tempfile
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional

try:
    import fcntl
except ImportError:  # not POSIX: extraction is not locked
    fcntl = None

__all__ = [
    'ARCHIVES', 'shared_data_dir', 'cache_dir', 'extract_dataset',
    'make_subset'
]

#: archive name and the folder it extracts to, per data set
ARCHIVES: Dict[str, tuple] = {
    'cifar10': ('cifar10-jpg.tar.gz', 'cifar10'),
    'tiny-imagenet-200': ('tiny-imagenet-200.tar.gz', 'tiny-imagenet-200'),
}


def shared_data_dir() -> Optional[str]:
    """The shared data folder, or None when it is absent.

    ``$MMRAZOR_UDSKD_SHARED_DATA`` wins; otherwise ``../shared/data`` beside
    the project root.
    """
    env = os.environ.get('MMRAZOR_UDSKD_SHARED_DATA')
    candidates = [env] if env else []
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    candidates.append(osp.join(osp.dirname(root), 'shared', 'data'))
    for cand in candidates:
        if cand and osp.isdir(cand):
            return cand
    return None


def cache_dir() -> str:
    """Where archives are extracted (``$MMRAZOR_UDSKD_CACHE`` or
    ``~/.cache/mmrazor_udskd``)."""
    path = os.environ.get('MMRAZOR_UDSKD_CACHE',
                          osp.join(osp.expanduser('~'), '.cache',
                                   'mmrazor_udskd'))
    os.makedirs(path, exist_ok=True)
    return path


@contextmanager
def _exclusive(path: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the
    block: one process at a time, the others wait."""
    with open(path, 'a') as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)


def extract_dataset(name: str) -> Optional[str]:
    """Extract a shared archive once and return its root, or None if the
    shared data folder or the archive is missing.

    Safe to call from several processes at once (parallel test workers,
    two training runs): one extracts, under a lock file in the cache
    folder, into a private temporary folder that is renamed into place
    when complete; the others wait for it and reuse the result. A tree
    left without its completion marker by a killed extraction is replaced.

    Args:
        name (str): A key of :data:`ARCHIVES`.
    """
    data = shared_data_dir()
    if data is None:
        return None
    archive, folder = ARCHIVES[name]
    src = osp.join(data, archive)
    if not osp.isfile(src):
        return None
    cache = cache_dir()
    root = osp.join(cache, folder)
    done = osp.join(cache, f'.{folder}.done')
    if osp.exists(done):
        return root
    with _exclusive(osp.join(cache, f'.{folder}.lock')):
        if osp.exists(done):  # another process finished meanwhile
            return root
        tmp = tempfile.mkdtemp(prefix=f'.{folder}.', dir=cache)
        try:
            with tarfile.open(src) as tar:
                tar.extractall(tmp, filter='data')
            inner = osp.join(tmp, folder)
            if osp.isdir(root):  # incomplete: no completion marker
                shutil.rmtree(root)
            os.replace(inner if osp.isdir(inner) else tmp, root)
        finally:
            if osp.isdir(tmp):
                shutil.rmtree(tmp)
        open(done, 'w').close()
    return root


def make_subset(root: str, split: str, per_class: int, out: str,
                classes: Optional[List[str]] = None,
                offset: int = 0, resize: Optional[int] = None) -> str:
    """Build a class-balanced subset as a symlink tree ``out/split/<cls>/``
    (or, with ``resize``, a tree of downsampled copies).

    Args:
        root (str): Extracted data set root (``root/split/<cls>/*``).
        split (str): Sub-folder, e.g. ``'train'``, ``'test'``, ``'val'``.
        per_class (int): Images per class (the first in sorted order after
            ``offset``).
        out (str): Output root; the tree goes to ``out/split``.
        classes (List[str], optional): Class folders to keep (all if None).
            Defaults to None.
        offset (int): Skip this many images per class first, so disjoint
            subsets (e.g. a held-out val split of train) can be made.
            Defaults to 0.
        resize (int, optional): Write each image downsampled to
            ``resize x resize`` (PIL box filter, the averaging used for
            Downsampled ImageNet; RGB; same file name and format, JPEG at
            quality 95) instead of linking it. Defaults to None (links).

    Returns:
        str: ``out``.
    """
    src_split = osp.join(root, split)
    classes = classes or sorted(os.listdir(src_split))
    for cls in classes:
        files = sorted(os.listdir(osp.join(src_split, cls)))
        dst = osp.join(out, split, cls)
        os.makedirs(dst, exist_ok=True)
        for fname in files[offset:offset + per_class]:
            link = osp.join(dst, fname)
            if osp.lexists(link):
                continue
            if resize is None:
                os.symlink(osp.join(src_split, cls, fname), link)
            else:
                _write_resized(osp.join(src_split, cls, fname), link, resize)
    return out


def _write_resized(src: str, dst: str, size: int) -> None:
    """Downsample one image to ``size x size`` (box filter) and write it
    atomically (a partial file never keeps the name).

    Args:
        src (str): Source image.
        dst (str): Destination (its extension picks the format).
        size (int): Output height and width.
    """
    from PIL import Image
    with Image.open(src) as img:
        small = img.convert('RGB').resize((size, size), Image.Resampling.BOX)
    fmt = Image.registered_extensions().get(osp.splitext(dst)[1].lower())
    tmp = f'{dst}.tmp{os.getpid()}'
    small.save(tmp, format=fmt, **({'quality': 95} if fmt == 'JPEG' else {}))
    os.replace(tmp, dst)
