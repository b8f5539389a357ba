"""tools/deploy.py end to end on the toy configs (export, lint, ORT verification at six
shapes, manifest), tools/test.py scoring the exported file, and the bad inputs."""
import json
import sys
from pathlib import Path

import onnx
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from conftest import TOY_DEPLOY, save_checkpoint

import trtvit_dense  # noqa: F401
from tools import deploy as deploy_tool
from tools import test as test_tool

ROOT = Path(__file__).parents[2]

CASES = TOY_DEPLOY


def toy_data_options(case, toy_data) -> dict:
    root = toy_data / ('toy_ade/ADEChallengeData2016' if case == 'upernet' else 'toy_coco')
    opts = {'test_dataloader.dataset.data_root': f'{root}/'}
    if case != 'upernet':
        opts['test_evaluator.ann_file'] = f'{root}/annotations/instances_val.json'
    if case == 'mask_rcnn':  # random weights: keep every box so mAP is computed
        opts['model.test_cfg.rcnn.score_thr'] = 0.0
    return opts


@pytest.mark.slow
@pytest.mark.parametrize('case', list(CASES))
def test_deploy_then_test_onnx(case, deployed_toy, toy_data, tmp_path):
    """The deployed folder (conftest's ``deployed_toy``: tools/deploy.py on seeded random
    weights, shared with the lint and inference tests) and tools/test.py on it."""
    config, _ = CASES[case]
    ckpt, work = deployed_toy(case) / 'model.pth', deployed_toy(case) / 'deploy'
    out = (deployed_toy(case) / 'deploy.log').read_text()
    assert 'verification passed at all shapes' in out
    assert out.count('| PASS |') == 6
    names = sorted(p.name for p in work.iterdir())
    assert names == ['end2end.onnx', 'manifest.json']  # no temp files left
    manifest = json.loads((work / 'manifest.json').read_text())
    assert manifest['verify_passed'] is True and len(manifest['verify']) == 6
    assert manifest['checkpoint']['sha256'] and manifest['config']['sha256']
    assert manifest['deploy_config']['profile']['opt_shape'] == [1, 3, 160, 160]
    assert manifest['environment']['torch'] == torch.__version__
    # which TensorRT parsers import the graph (the lint's tables of 10.0 and 10.15)
    assert manifest['tensorrt_parses'] == {'10.0': True, '10.15': True}
    assert manifest['tensorrt_expected'] == ['10.0.1', '11.4.0.106']
    model = onnx.load(str(work / 'end2end.onnx'))
    assert [i.name for i in model.graph.input] == ['input']
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ['batch', 3, 'height', 'width']

    # the same evaluator scores the ONNX file and the checkpoint on the toy data
    metrics = {}
    for model_file in (str(work / 'end2end.onnx'), str(ckpt)):
        cfg = test_tool.load_config(str(ROOT / config), toy_data_options(case, toy_data))
        test_tool.prepare_test_config(cfg, str(ROOT / config), model_file,
                                      work_dir=str(tmp_path / 'test'))
        metrics[model_file] = test_tool.test(cfg, backend=test_tool.backend_of(model_file))
    ort_metrics, pt_metrics = metrics.values()
    assert ort_metrics.keys() == pt_metrics.keys() and ort_metrics
    # mAP is a fraction; mmseg reports percentages. The label-only segmentation graph
    # resizes labels (nearest) to the original image where mmseg resizes logits, so
    # class borders may move by a pixel; random weights make borders everywhere.
    tol = 1.0 if case == 'upernet' else 0.02
    for key, value in pt_metrics.items():
        assert abs(ort_metrics[key] - value) <= tol, (key, ort_metrics[key], value)


@pytest.fixture(scope='module')
def exported_mask_rcnn(deployed_toy):
    return deployed_toy('mask_rcnn') / 'deploy' / 'end2end.onnx'


def run_deploy(args):
    with pytest.raises(SystemExit) as e:
        deploy_tool.main(args)
    return str(e.value.code)


def test_checkpoint_of_another_model_is_refused(tmp_path):
    config, deploy_cfg = CASES['mask_rcnn']
    other = save_checkpoint(CASES['retinanet'][0], tmp_path / 'retina.pth')
    msg = run_deploy([str(ROOT / config), str(other), '--deploy-cfg', str(ROOT / deploy_cfg),
                      '--work-dir', str(tmp_path / 'w'), '--no-verify'])
    assert f"checkpoint {other} does not match MaskRCNN with TRTViT('a'): " in msg
    assert not (tmp_path / 'w' / 'end2end.onnx').exists()


@pytest.mark.parametrize('deploy_cfg, args, match', [
    ('segmentation_dynamic-64x64-512x512.py', [],
     'is for segmentation, but .* is a detection config'),
    ('detection_dynamic-64x64-448x448.py', ['--backend', 'tensorrt', '--device', 'cuda'],
     "TensorRT not found"),
    ('detection_dynamic-64x64-448x448.py', ['--backend', 'tensorrt'],
     'the tensorrt backend runs on a CUDA GPU: pass --device cuda'),
    ('detection_dynamic-64x64-448x448.py', ['--deploy-options', 'profile.min_shape=[1,3,32]'],
     r'4 positive ints'),
])
def test_bad_deploy_arguments(deploy_cfg, args, match, tmp_path, monkeypatch):
    import re
    monkeypatch.setitem(sys.modules, 'tensorrt', None)  # TensorRT absent, also on GPU hosts
    msg = run_deploy([str(ROOT / CASES['mask_rcnn'][0]), str(tmp_path / 'missing.pth'),
                      '--deploy-cfg', str(ROOT / 'configs/deploy' / deploy_cfg),
                      '--work-dir', str(tmp_path / 'w')] + args)
    assert re.search(match, msg), msg
    assert not (tmp_path / 'w').exists() or not any((tmp_path / 'w').iterdir())


def data_cfg_options(case, toy_data) -> list[str]:
    """--cfg-options pointing the test split at the session's toy data (a fresh clone
    has no data/ folder)."""
    return ['--cfg-options'] + [f'{k}={v}' for k, v in toy_data_options(case, toy_data).items()
                                if k != 'model.test_cfg.rcnn.score_thr']


def test_onnx_of_another_model_is_refused_by_test_tool(exported_mask_rcnn, toy_data,
                                                       tmp_path):
    with pytest.raises(SystemExit) as e:
        test_tool.main([str(ROOT / CASES['retinanet'][0]), str(exported_mask_rcnn),
                        '--work-dir', str(tmp_path)] + data_cfg_options('retinanet', toy_data))
    msg = str(e.value.code)
    assert 'was exported from a different model' in msg and "model_type: config has " \
        "'RetinaNet'" in msg


def test_test_tool_checks_backend_and_suffix(exported_mask_rcnn, toy_data, tmp_path):
    with pytest.raises(SystemExit) as e:
        test_tool.main([str(ROOT / CASES['mask_rcnn'][0]), str(exported_mask_rcnn),
                        '--backend', 'tensorrt', '--work-dir', str(tmp_path)]
                       + data_cfg_options('mask_rcnn', toy_data))
    assert '--backend tensorrt runs .engine/.plan/.trt files' in str(e.value.code)


def test_deployed_model_refuses_shapes_outside_profile(exported_mask_rcnn):
    from trtvit_dense.deploy import ShapeError
    from trtvit_dense.deploy.model import DeployedModel
    cfg = Config.fromfile(str(ROOT / CASES['mask_rcnn'][0]))
    init_default_scope('mmdet')
    model = DeployedModel(str(exported_mask_rcnn), 'onnxruntime', cfg.model.to_dict(),
                          'detection', data_preprocessor=cfg.model.data_preprocessor)
    with pytest.raises(ShapeError, match='1x3x480x224 is outside the deploy profile.*'
                       'max 2x3x448x448'):
        model.predict(torch.zeros(1, 3, 480, 224), [])


def test_failed_export_leaves_no_file(tmp_path, monkeypatch):
    """The checker runs on a temporary file; a failure leaves the work dir empty."""
    def broken(*args, **kwargs):
        raise onnx.checker.ValidationError('simulated checker failure')
    monkeypatch.setattr(onnx.checker, 'check_model', broken)
    config, deploy_cfg = CASES['retinanet']
    ckpt = save_checkpoint(config, tmp_path / 'model.pth')
    with pytest.raises(onnx.checker.ValidationError, match='simulated'):
        deploy_tool.main([str(ROOT / config), str(ckpt), '--deploy-cfg',
                          str(ROOT / deploy_cfg), '--work-dir', str(tmp_path / 'w'),
                          '--no-verify'])
    assert list((tmp_path / 'w').iterdir()) == []
