"""The one-home registries: tasks, backends, precisions and the deployed folder."""
import json

import numpy as np
import pytest
from conftest import FixedBackend as Fixed

from trtvit_dense.deploy.artifact import DeployedArtifact
from trtvit_dense.deploy.backends import (BACKENDS, BackendError, backend_of, check_backend,
                                          open_backend)
from trtvit_dense.deploy.precision import (GRAPH_FILES, PRECISIONS, check_precision,
                                           graph_file, graph_kind)
from trtvit_dense.deploy.verify import Tolerances, VerifyRow, format_table, verify_backend
from trtvit_dense.tasks import TASK_NAMES, TASKS, get_task, task_of_scope


def test_task_registry():
    assert TASK_NAMES == ('detection', 'segmentation', 'classification')
    assert task_of_scope('mmdet') is TASKS['detection']
    assert task_of_scope('mmseg') is TASKS['segmentation'] and task_of_scope('mmpose') is None
    assert task_of_scope('mmpretrain') is TASKS['classification']
    with pytest.raises(ValueError, match=r"task must be one of \('detection', "
                       r"'segmentation', 'classification'\), got 'pose'"):
        get_task('pose')
    metrics = {'coco/bbox_mAP': 0.539, 'coco/segm_mAP': 0.598, 'coco/bbox_mAP_50': 0.8}
    assert get_task('detection').accuracy_points(metrics) == pytest.approx(
        dict(bbox_mAP=53.9, segm_mAP=59.8))
    assert get_task('segmentation').accuracy_points(
        {'mIoU': 76.76, 'aAcc': 95.1, 'mAcc': 80.0, 'IoU.sky': 99.0}) == dict(
            mIoU=76.76, aAcc=95.1, mAcc=80.0)
    assert get_task('classification').accuracy_points(
        {'accuracy/top1': 96.0, 'accuracy/top5': 100.0}) == dict(top1=96.0, top5=100.0)
    for task in TASKS.values():  # every task has its deploy side
        assert task.primary_metric in dict(task.metrics)
        for hook in ('build_exportable', 'head_config', 'attach_predictions', 'compare',
                     'failures', 'table', 'describe_tolerances'):
            assert callable(getattr(task.deploy, hook)), (task.name, hook)


def test_backend_registry(tmp_path):
    assert tuple(BACKENDS) == ('pytorch', 'onnxruntime', 'tensorrt')
    assert [backend_of(f'm{s}') for s in ('.pth', '.onnx', '.engine', '.plan')] == [
        'pytorch', 'onnxruntime', 'tensorrt', 'tensorrt']
    assert check_backend('onnxruntime', 'cpu').suffixes == ('.onnx', )
    with pytest.raises(BackendError, match="--backend must be one of pytorch, onnxruntime, "
                       "tensorrt, got 'openvino'"):
        check_backend('openvino')
    with pytest.raises(BackendError, match="--device must be one of cpu, cuda, got 'tpu'"):
        check_backend('onnxruntime', 'tpu')
    with pytest.raises(BackendError, match='the tensorrt backend runs on a CUDA GPU: pass '
                       '--device cuda'):
        check_backend('tensorrt', 'cpu')
    with pytest.raises(BackendError, match="unknown backend 'openvino'"):
        open_backend('openvino', tmp_path / 'x.onnx')
    with pytest.raises(TypeError, match='runs an export wrapper module'):
        open_backend('pytorch', tmp_path / 'x.pth')


def test_precisions():
    assert PRECISIONS == tuple(GRAPH_FILES) == ('fp32', 'fp16', 'int8')
    assert [graph_file(p) for p in PRECISIONS] == ['end2end.onnx', 'end2end_fp16.onnx',
                                                   'end2end_int8.onnx']
    assert [graph_kind(p) for p in PRECISIONS] == ['onnx', 'onnx_fp16', 'onnx_int8']
    with pytest.raises(ValueError, match="--precision must be one of fp32, fp16, int8, "
                       "got 'fp8'"):
        check_precision('fp8', '--precision')


def test_deployed_artifact_files_and_precision(tmp_path):
    artifact = DeployedArtifact(tmp_path)
    assert artifact.manifest is None and artifact.graph('int8') == tmp_path / GRAPH_FILES['int8']
    engine = artifact.engine
    engine.write_bytes(b'engine')
    assert artifact.precision_of(engine) == 'fp32'  # no manifest: fp32
    assert artifact.metadata(engine) == (None, None)
    (tmp_path / 'manifest.json').write_text(json.dumps(dict(
        precision='int8', signature={'task': 'detection'},
        files=dict(onnx=dict(path='end2end.onnx'), onnx_int8=dict(path='end2end_int8.onnx'),
                   engine=dict(path='end2end.engine')))))
    artifact = DeployedArtifact(tmp_path)
    assert [artifact.precision_of(tmp_path / n) for n in
            ('end2end.onnx', 'end2end_int8.onnx', 'end2end.engine')] == ['fp32', 'int8', 'int8']
    assert artifact.metadata(engine) == ({'task': 'detection'}, None)
    with pytest.raises(FileNotFoundError, match='deployed model not found'):
        DeployedArtifact.of_file(tmp_path / 'missing.onnx')


def test_verification_goes_through_the_task():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, (1, 1, 8, 8)).astype(np.int32)
    logits = rng.standard_normal((1, 5, 8, 8)).astype(np.float32)
    ref = dict(seg_labels=labels, seg_logits=logits)
    same = verify_backend('segmentation', Fixed(ref), Fixed(ref), [np.zeros((1, 3, 8, 8))])
    assert same[0].passed and same[0].metrics == dict(pixel_agree=1.0, logits_rel_err=0.0)
    flipped = labels.copy()
    flipped[0, 0, :2] = (flipped[0, 0, :2] + 1) % 5  # 16 of 64 pixels
    off = dict(seg_labels=flipped, seg_logits=logits * 1.01)
    rows = verify_backend('segmentation', Fixed(ref), Fixed(off), [np.zeros((1, 3, 8, 8))])
    assert not rows[0].passed and rows[0].metrics['pixel_agree'] == 0.75
    assert rows[0].failures[0].startswith('75.0000% identical pixels')
    assert 'logits error' in rows[0].failures[1]
    table = format_table('segmentation', rows, 'onnxruntime')
    assert '| 1x3x8x8 | 75.0000% |' in table and 'FAIL: 75.0000% identical' in table

    dets = np.array([[[0, 0, 10, 10, 0.9], [20, 20, 30, 30, 0.8]]], np.float32)
    det_ref = dict(dets=dets, labels=np.array([[1, 2]], np.int32))
    relabelled = dict(dets=dets, labels=np.array([[1, 3]], np.int32))  # 2nd: other label
    row, = verify_backend('detection', Fixed(det_ref), Fixed(relabelled),
                          [np.zeros((1, 3, 32, 32))], Tolerances())
    assert (row.metrics['matched'], row.metrics['ref_boxes']) == (1, 2) and not row.passed
    assert '| 1x3x32x32 | 2 | 1 | 0 | 50.00% | - |' in format_table('detection', [row], 'ort')
    assert isinstance(row, VerifyRow)
