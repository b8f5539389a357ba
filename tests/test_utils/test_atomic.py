"""Atomic writes: all or nothing under the final name, with the mode open() would give."""
import os

import pytest

from trtvit_dense.utils.atomic import atomic_path, atomic_write_bytes


def test_written_file_has_the_umask_mode_not_mkstemps_private_one(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_write_bytes(tmp_path / 'sub' / 'report.json', b'{}')
    finally:
        os.umask(old)
    assert path.read_bytes() == b'{}'
    assert path.stat().st_mode & 0o777 == 0o644


def test_failure_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / 'model.onnx'
    path.write_bytes(b'old')
    with pytest.raises(RuntimeError, match='disk full'):
        with atomic_path(path) as tmp:
            tmp.write_bytes(b'half')
            raise RuntimeError('disk full')
    assert path.read_bytes() == b'old'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['model.onnx']
