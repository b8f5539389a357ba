"""Atomic writes: all or nothing under the final name, with the mode open() would give."""
import os

import pytest

from trtvit_dense.utils.atomic import atomic_dir, atomic_path, atomic_write_bytes


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


def test_suffix_for_writers_that_check_the_extension(tmp_path):
    with atomic_path(tmp_path / 'results.pkl', suffix='.tmp.pkl') as tmp:
        assert tmp.name.endswith('.tmp.pkl') and tmp.parent == tmp_path
        tmp.write_bytes(b'pkl')
    assert (tmp_path / 'results.pkl').read_bytes() == b'pkl'


@pytest.mark.parametrize('existing', [False, True])
def test_folder_replaced_whole_or_not_at_all(tmp_path, existing):
    out = tmp_path / 'labels'
    if existing:
        out.mkdir()
        (out / 'old.png').write_bytes(b'old')
    with pytest.raises(RuntimeError, match='killed'):
        with atomic_dir(out) as tmp:
            (tmp / 'a.png').write_bytes(b'a')
            raise RuntimeError('killed')
    assert sorted(p.name for p in tmp_path.iterdir()) == (['labels'] if existing else [])
    assert not existing or [p.name for p in out.iterdir()] == ['old.png']
    with atomic_dir(out) as tmp:
        (tmp / 'a.png').write_bytes(b'a')
        assert not (out / 'a.png').exists()
    assert [p.name for p in out.iterdir()] == ['a.png']
    assert sorted(p.name for p in tmp_path.iterdir()) == ['labels']
