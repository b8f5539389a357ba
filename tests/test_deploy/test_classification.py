"""Classifiers deployed: dynamic-shape ONNX export of an mmpretrain ImageClassifier,
verification at every shape, fp16/int8 graphs, tools/test.py on ONNX Runtime, and the
benchmark's classification rows with --batch."""
import json
import pickle
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import read_test_metrics, save_checkpoint

from trtvit_dense.deploy.rewrite.classification import postprocess_classification
from trtvit_dense.deploy.tasks import classification
from trtvit_dense.deploy.verify import Tolerances

ROOT = Path(__file__).parents[2]
CONFIG = 'configs/toy/classifier_trtvit-a_toy.py'
DEPLOY = 'configs/deploy/classification_dynamic-64x64-224x224.py'


def data_options(toy_data):
    imagenet = toy_data / 'toy_imagenet'
    return [f'{s}_dataloader.dataset.data_root={imagenet}' for s in ('train', 'val', 'test')]


def run(capsys, tool, *args):
    """``tools/<tool>.py`` in process (a subprocess would add its imports, seconds each);
    returns what it printed."""
    from tools import benchmark, deploy, test
    module = dict(deploy=deploy, test=test, benchmark=benchmark)[tool]
    capsys.readouterr()
    module.main([str(a) for a in args])
    return capsys.readouterr().out


def scores(*rows):
    return dict(scores=np.array(rows, np.float32))


def test_compare_counts_top1_agreement_ties_and_score_error():
    tol = Tolerances()
    ref = scores([0.7, 0.2, 0.1], [0.4, 0.4 + 4e-6, 0.2], [0.1, 0.1, 0.8])
    out = scores([0.7, 0.2, 0.1], [0.4 + 8e-6, 0.4, 0.2], [0.1, 0.1, 0.8])
    m = classification.compare(ref, out, tol)
    assert m == dict(images=3, top1_agree=1.0, ties=1, score_err=pytest.approx(8e-6, rel=1e-2))
    assert classification.failures(m, tol) == []
    # a real flip (scores far apart) and a drifted score both fail, with the numbers
    out = scores([0.2, 0.7, 0.1], [0.4, 0.4 + 4e-6, 0.2], [0.1, 0.1, 0.8])
    m = classification.compare(ref, out, tol)
    assert m['top1_agree'] == pytest.approx(2 / 3) and m['ties'] == 0
    assert classification.failures(m, tol) == [
        '66.67% identical top-1 of 3 images (< 99.9%)', 'score error 5.00e-01 > 0.001']


def test_postprocess_sets_mmpretrain_predictions():
    from mmpretrain.structures import DataSample
    samples = postprocess_classification(scores([0.1, 0.9], [0.8, 0.2]),
                                         [DataSample(), DataSample()])
    assert [int(s.pred_label) for s in samples] == [1, 0]
    assert np.allclose(samples[0].pred_score.numpy(), [0.1, 0.9])
    with pytest.raises(ValueError, match=r'scores of shape \[2, 2\] do not fit a batch of 3 '
                       r'images'):
        postprocess_classification(scores([0.1, 0.9], [0.8, 0.2]), [DataSample()] * 3)


def test_a_multi_label_head_is_refused():
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS

    from trtvit_dense.deploy.rewrite.classification import ExportableClassifier
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(dict(
            type='ImageClassifier', backbone=dict(type='TRTViT', arch='a', out_indices=(3, )),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='MultiLabelLinearClsHead', num_classes=5, in_channels=1536)))
    with pytest.raises(TypeError, match='MultiLabelLinearClsHead head is not supported for '
                       'export: only single-label heads'):
        ExportableClassifier(model)


@pytest.mark.slow
def test_classifier_deploys_verifies_tests_and_benchmarks(toy_data, tmp_path, capsys):
    """Seeded random weights: the graph must equal PyTorch at every shape whatever the
    weights; tools/test.py gives the same top-1 on ONNX Runtime as on PyTorch.

    Over a minute: the classifier's whole path in one test (an int8 deploy with
    calibration and an fp32 deploy, each verified at six shapes up to batch 8, two
    evaluations, two benchmarks at batch 1 and 8), the tools run in process."""
    ckpt = save_checkpoint(CONFIG, tmp_path / 'cls.pth')
    opts = data_options(toy_data)
    out = run(capsys, 'deploy', CONFIG, ckpt, '--deploy-cfg', DEPLOY, '--work-dir',
              tmp_path / 'deploy', '--precision', 'int8', '--calib-data', 'val',
              '--calib-num', '4', '--cfg-options', *opts)
    assert 'verification passed at all shapes' in out
    assert "int8 tolerances: >= 90% identical top-1, scores within 0.05" in out
    manifest = json.loads((tmp_path / 'deploy' / 'manifest.json').read_text())
    assert manifest['task'] == 'classification'
    assert len(manifest['verify']) == 6 and all(r['passed'] for r in manifest['verify'])
    assert {r['shape'] for r in manifest['verify']} >= {'8x3x112x112', '2x3x224x224',
                                                        '3x3x97x131'}
    graph = onnx.load(str(tmp_path / 'deploy' / 'end2end.onnx'))
    assert [o.name for o in graph.graph.output] == ['scores']
    dims = [d.dim_param or d.dim_value for d in graph.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ['batch', 3, 'height', 'width']
    assert [d.dim_param or d.dim_value for d in
            graph.graph.output[0].type.tensor_type.shape.dim] == ['batch', 5]
    # fp32 verification of the same folder (the int8 run verified its own graph)
    fp32 = run(capsys, 'deploy', CONFIG, ckpt, '--deploy-cfg', DEPLOY, '--work-dir',
               tmp_path / 'fp32', '--cfg-options', *opts)
    assert fp32.count('| PASS |') == 6

    dumps = {}
    for backend, model in (('pytorch', ckpt), ('onnxruntime', tmp_path / 'fp32' / 'end2end.onnx')):
        dumps[backend] = tmp_path / f'{backend}.pkl'
        run(capsys, 'test', CONFIG, model, '--backend', backend, '--work-dir',
            tmp_path / f'test_{backend}', '--out', dumps[backend], '--cfg-options', *opts)
        assert 'accuracy/top1' in read_test_metrics(tmp_path / f'test_{backend}')
    torch_out, ort_out = (pickle.loads(dumps[b].read_bytes()) for b in ('pytorch', 'onnxruntime'))
    assert len(torch_out) == len(ort_out) == 8
    assert [int(r['pred_label']) for r in torch_out] == [int(r['pred_label']) for r in ort_out]
    assert max(float(np.abs(a['pred_score'].numpy() - b['pred_score'].numpy()).max())
               for a, b in zip(torch_out, ort_out)) < 1e-3

    bench = tmp_path / 'bench'
    for batch in (1, 8):
        run(capsys, 'benchmark', '--model', CONFIG, ckpt, '--deploy-cfg', DEPLOY, '--batch',
            batch, '--iters', '2', '--warmup-s', '0', '--num-images', '4', '--no-progress',
            '--work-dir', bench / str(batch), '--cfg-options', *opts)
        report = json.loads((bench / str(batch) / 'report.json').read_text())
        rows = report['rows']
        assert [(r['backend'], r['task']) for r in rows] == [
            ('pytorch', 'classification'), ('onnxruntime', 'classification')]
        for r in rows:
            assert set(r['accuracy']) == {'top1'}  # the toy evaluator: top-1 only
            b = r['compute_batch']
            assert b['batch'] == batch and b['shape'] == [batch, 3, 112, 112]
            assert b['per_image_ms'] == pytest.approx(b['mean_ms'] / batch)
        md = (bench / str(batch) / 'report.md').read_text()
        assert f'batch {batch} ms/img' in md and 'top-1' in md
    with pytest.raises(SystemExit, match=r'--batch 9 is outside the batch range 1\.\.8 of '
                       r'the deploy profile of classifier_trtvit-a_toy'):
        run(capsys, 'benchmark', '--model', CONFIG, ckpt, '--deploy-cfg', DEPLOY, '--batch',
            '9', '--work-dir', bench / '9', '--cfg-options', *opts)
