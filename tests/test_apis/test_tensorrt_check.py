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
