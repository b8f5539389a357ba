"""Deployment manifests: hashes, environment, atomic JSON round trip."""
import hashlib
import json
import os
import platform

import numpy as np
import pytest
import torch

from trtvit_dense.deploy.manifest import (ManifestError, environment_versions,
                                          file_sha256, read_manifest, write_manifest)
from trtvit_dense.utils.atomic import atomic_write_bytes


def test_file_sha256(tmp_path):
    small = tmp_path / 'abc'
    small.write_bytes(b'abc')
    # FIPS 180-2 test vector.
    assert file_sha256(small) == ('ba7816bf8f01cfea414140de5dae2223'
                                  'b00361a396177a9cb410ff61f20015ad')
    big = tmp_path / 'big.bin'
    data = np.random.default_rng(0).bytes(3 * (1 << 20) + 17)  # several chunks, ragged
    big.write_bytes(data)
    assert file_sha256(big, chunk_size=1 << 20) == hashlib.sha256(data).hexdigest()


def test_environment_versions():
    env = environment_versions()
    assert {'python', 'torch', 'mmcv', 'mmengine', 'mmdet', 'mmseg', 'onnx', 'onnxruntime',
            'tensorrt', 'cuda', 'gpu', 'cpu', 'platform'} <= set(env)
    assert env['python'] == platform.python_version()
    assert env['torch'] == torch.__version__
    import mmdet
    import onnx
    assert env['mmdet'] == mmdet.__version__ and env['onnx'] == onnx.__version__
    assert env['cpu']
    if not torch.cuda.is_available():
        assert env['cuda'] is None and env['gpu'] is None
    json.dumps(env)  # JSON-ready as it is


def test_round_trip(tmp_path):
    cfg = tmp_path / 'cfg.py'
    cfg.write_text('task = "segmentation"\n')
    fields = dict(
        config=dict(path=cfg, sha256=file_sha256(cfg)),
        profile=dict(min_shape=(1, 3, 256, 256), max_shape=[1, 3, 1024, 1024]),
        precision='fp32',
        outputs=[dict(name='seg_labels', shape=[-1, 1, -1, -1], dtype='INT32')],
        num_classes=np.int64(150),
        mean=np.array([123.675, 116.28, 103.53]),
        tensorrt=None)
    path = write_manifest(tmp_path / 'out' / 'manifest.json', **fields)
    assert path == tmp_path / 'out' / 'manifest.json'
    got = read_manifest(path)
    assert got == dict(
        config=dict(path=str(cfg), sha256=hashlib.sha256(cfg.read_bytes()).hexdigest()),
        profile=dict(min_shape=[1, 3, 256, 256], max_shape=[1, 3, 1024, 1024]),
        precision='fp32',
        outputs=[dict(name='seg_labels', shape=[-1, 1, -1, -1], dtype='INT32')],
        num_classes=150,
        mean=[123.675, 116.28, 103.53],
        tensorrt=None)
    text = path.read_text()
    assert list(json.loads(text)) == sorted(fields)  # sorted keys: manifests diff cleanly
    assert text.endswith('}\n')


def test_atomic_write_leaves_no_temp_files(tmp_path):
    write_manifest(tmp_path / 'manifest.json', precision='fp32')
    write_manifest(tmp_path / 'manifest.json', precision='fp16')  # overwrite
    assert [p.name for p in tmp_path.iterdir()] == ['manifest.json']
    assert read_manifest(tmp_path / 'manifest.json') == dict(precision='fp16')


def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / 'manifest.json'
    write_manifest(path, precision='fp32')

    def fail(src, dst):
        raise OSError('disk full')

    monkeypatch.setattr(os, 'replace', fail)
    with pytest.raises(OSError, match='disk full'):
        write_manifest(path, precision='fp16')
    monkeypatch.undo()
    assert read_manifest(path) == dict(precision='fp32')
    assert [p.name for p in tmp_path.iterdir()] == ['manifest.json']


def test_unserialisable_field(tmp_path):
    with pytest.raises(TypeError, match='manifest values must be JSON data; got object'):
        write_manifest(tmp_path / 'manifest.json', model=object())
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_bytes_buffer(tmp_path):
    # Engines arrive as buffer objects (TensorRT's IHostMemory), not bytes.
    path = atomic_write_bytes(tmp_path / 'a' / 'm.engine', memoryview(b'\x00engine'))
    assert path.read_bytes() == b'\x00engine'


def test_missing_manifest(tmp_path):
    with pytest.raises(FileNotFoundError, match='manifest not found: .*nope.json'):
        read_manifest(tmp_path / 'nope.json')


@pytest.mark.parametrize('content, match', [
    (b'{"precision": "fp32", "files": [', r'is not valid JSON \(line 1, column 33'),
    (b'', r'is not valid JSON \(line 1, column 1'),
    (b'\xff\xfe\x00', 'is not UTF-8 text'),
    (b'[1, 2]', 'must hold a JSON object, got list'),
])
def test_corrupt_manifest(tmp_path, content, match):
    path = tmp_path / 'manifest.json'
    path.write_bytes(content)
    with pytest.raises(ManifestError, match=match):
        read_manifest(path)
