"""Atomic file output: every file the tools write (ONNX graphs, engines, timing caches,
manifests, reports, predictions) appears under its final name only when complete.

A temporary file beside the target (same filesystem, so ``os.replace`` is atomic) is
written and renamed at the end; on any failure it is removed, and an older file under
the final name is left as it was. Readers never see a truncated file that looks finished
(an interrupted export or engine build, a full disk).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ['atomic_path', 'atomic_dir', 'atomic_write_bytes']


@contextmanager
def atomic_path(path: str | Path, suffix: str = '.tmp') -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (ending in ``suffix``, for writers that
    check the extension); rename it to ``path`` when the block ends without an
    exception, delete it otherwise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix=suffix, dir=path.parent)
    os.close(fd)
    # mkstemp makes the file private (0600); the output gets the mode open() would give
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes | bytearray | memoryview) -> Path:
    """Write ``data`` to ``path`` atomically (flushed to disk before the rename)."""
    with atomic_path(path) as tmp, open(tmp, 'wb') as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return Path(path)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``path`` to fill; when the block ends without an
    exception it replaces ``path`` (an older folder there is removed after the swap),
    otherwise it is deleted and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    try:
        yield tmp
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f'.{path.name}.', suffix='.old',
                                        dir=path.parent))
            os.replace(path, old / path.name)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
