"""The TensorRT acceptance run, as far as a CPU allows: it refuses at once without
TensorRT or a GPU (nothing written), picks the demo's checkpoints when they exist, and
its report says what passed and what failed."""
import json
import sys

import pytest
import torch

from tools.analysis import tensorrt_check as tool
from trtvit_dense.apis.tensorrt_check import (CHECK_MODELS, CheckResult, check_models,
                                              format_check)
from trtvit_dense.deploy.backends.tensorrt import NO_CUDA, tensorrt_not_found


@pytest.mark.parametrize('tensorrt, message', [(None, 'not found'), ('fake', NO_CUDA)])
def test_refuses_without_tensorrt_or_cuda(tensorrt, message, tmp_path, monkeypatch, capsys):
    import types
    monkeypatch.setitem(sys.modules, 'tensorrt',
                        None if tensorrt is None else types.ModuleType('tensorrt'))
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(SystemExit) as exit_:
        tool.main(['--work-dir', str(tmp_path / 'w')])
    text = str(exit_.value.code)
    expected = tensorrt_not_found() if tensorrt is None else NO_CUDA
    assert text == f'error: {expected}' and message in text
    assert not (tmp_path / 'w').exists()  # refused before anything was written


def test_refuses_an_unknown_precision(capsys):
    with pytest.raises(SystemExit):
        tool.parse_args(['--precisions', 'fp8'])
    assert "invalid choice: 'fp8'" in capsys.readouterr().err


def test_uses_the_demo_checkpoints_where_they_exist(tmp_path):
    assert [m.name for m in CHECK_MODELS] == ['mask-rcnn_trtvit-a', 'retinanet_trtvit-a',
                                              'upernet_trtvit-a', 'classifier_trtvit-a']
    trained = tmp_path / 'train' / 'retinanet_trtvit-a'
    trained.mkdir(parents=True)
    (trained / 'epoch_5.pth').write_bytes(b'x')
    (trained / 'training.json').write_text(json.dumps(dict(
        checkpoint=str(trained / 'epoch_5.pth'))))
    classifier = tmp_path / 'pretrain' / 'train' / 'classifier_trtvit-a'
    classifier.mkdir(parents=True)
    (classifier / 'epoch_12.pth').write_bytes(b'x')
    (classifier / 'training.json').write_text(json.dumps(dict(
        checkpoint=str(classifier / 'epoch_12.pth'))))
    assert [c for _, c in check_models(tmp_path)] == [None, str(trained / 'epoch_5.pth'),
                                                      None, str(classifier / 'epoch_12.pth')]


def test_report_names_each_failure():
    rows = [dict(model='retinanet_trtvit-a', weights='demo', precision=p, verified=v,
                 metric='bbox_mAP', pytorch=55.8, tensorrt=acc, difference=acc - 55.8,
                 passed=ok, compute_ms=1.25, e2e_ms=4.5)
            for p, v, acc, ok in (('fp32', '6/6', 55.8, True), ('int8', '5/6', 52.1, False))]
    text = format_check(CheckResult(rows=rows, seconds=412.0, failures=[
        'retinanet_trtvit-a int8: bbox_mAP 52.10 vs PyTorch 55.80 (more than 2.0 points '
        'apart)']), dict(tensorrt='10.16.1.11', gpu='NVIDIA H200', torch='2.13.0+cu128'))
    assert 'TensorRT 10.16.1.11 on NVIDIA H200, torch 2.13.0+cu128; 412 s in all.' in text
    assert '| retinanet_trtvit-a | demo | fp32 | 6/6 | bbox_mAP | 55.80 | 55.80 | +0.00 | ' \
           '1.2 | 4.5 | PASS |' in text
    assert '| int8 | 5/6 |' in text and '| -3.70 |' in text and '| FAIL |' in text
    assert text.endswith('- retinanet_trtvit-a int8: bbox_mAP 52.10 vs PyTorch 55.80 (more '
                         'than 2.0 points apart)\n')


def _check_row(precision, compute_ms, passed=True):
    return dict(model='retinanet_trtvit-a', weights='demo', precision=precision,
                verified='6/6', metric='bbox_mAP', pytorch=55.8, tensorrt=55.5,
                difference=-0.3, passed=passed, compute_ms=compute_ms, e2e_ms=4.5,
                engine=f'deploy/retinanet-{precision}/end2end.engine',
                quantizer='modelopt' if precision == 'int8' else None)


@pytest.mark.parametrize('int8_ms, int8_ok, fp16_ok, keep, why', [
    (0.8, True, True, 'int8', 'int8 is 1.50x faster than fp16'),
    (1.4, True, True, 'fp16', 'int8 is not faster than fp16 (1.40 ms vs 1.20 ms)'),
    (0.8, False, True, 'fp16', 'the int8 engine failed its checks'),
    (1.4, True, False, None, 'the fp16 engine failed its checks too'),
])
def test_int8_is_kept_only_where_it_beats_fp16(int8_ms, int8_ok, fp16_ok, keep, why):
    from trtvit_dense.apis.tensorrt_check import int8_choices
    rows = [_check_row('fp32', 2.0), _check_row('fp16', 1.2, fp16_ok),
            _check_row('int8', int8_ms, int8_ok)]
    [choice] = int8_choices(rows)
    assert choice['keep'] == keep and why in choice['why']
    assert choice['quantizer'] == 'modelopt'
    assert choice['engine'] == (f'deploy/retinanet-{keep}/end2end.engine' if keep else None)
    text = format_check(CheckResult(rows=rows, choices=[choice]), dict(tensorrt='10.16'))
    assert '## The engine to deploy: int8 only where it beats fp16 on this GPU' in text
    assert f"| retinanet_trtvit-a | modelopt | 1.2 | {int8_ms:.1f} |" in text
    assert int8_choices(rows[:2]) == []  # no int8 row: nothing to choose


def test_quantizer_flag(capsys):
    assert tool.parse_args([]).quantizer is None
    assert tool.parse_args(['--quantizer', 'onnxruntime']).quantizer == 'onnxruntime'
    with pytest.raises(SystemExit):
        tool.parse_args(['--quantizer', 'tflite'])
    assert "invalid choice: 'tflite'" in capsys.readouterr().err
