"""Segmentation export rewrite: exact adaptive pooling at dynamic sizes, the trap it
avoids, ExportableSegmentor + postprocess_segmentation vs mmseg's ``predict`` (eager),
and the exported graph vs PyTorch in ONNX Runtime at sizes other than the trace size.

Models are the real UPerNet configs with random weights and 32 head channels (512 are
needlessly slow on CPU and change nothing about the graph).
"""
import copy
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config, ConfigDict
from mmengine.registry import init_default_scope
from torch import nn

import trtvit_dense  # noqa: F401  (registers TRTViT)
from trtvit_dense.deploy.backends.onnxruntime import ORTBackend
from trtvit_dense.deploy.rewrite.segmentation import (ExportableAdaptiveAvgPool2d,
                                                      ExportableSegmentor,
                                                      adaptive_avg_pool2d,
                                                      postprocess_segmentation)

ROOT = Path(__file__).parents[2]
TRTVIT_A = 'configs/upernet/upernet_trtvit-a_4xb4-160k_ade20k-512x512.py'
R50 = 'configs/upernet/upernet_r50_4xb4-160k_ade20k-512x512.py'
TOY = 'configs/toy/upernet_trtvit-a_toy.py'
# Semantic FPN: a neck between backbone and head (the papers' ADE20K head)
FPN_TRTVIT_A = 'configs/sem_fpn/fpn_trtvit-a_4xb4-80k_ade20k-512x512.py'
FPN_NEXTVIT_S = 'configs/sem_fpn/fpn_nextvit-s_4xb4-80k_ade20k-512x512.py'
OPSET = 17
TRACE_SHAPE = (1, 3, 128, 128)
# Shapes run in ORT: the trace shape, then sizes and batches the trace never saw
# (97x131 is odd and no multiple of 32: every stride-2 stage rounds).
ORT_SHAPES = [(1, 3, 128, 128), (1, 3, 97, 131), (2, 3, 97, 131), (1, 3, 64, 224),
              (2, 3, 160, 96)]
MIN_LABEL_AGREEMENT = 0.999  # argmax may flip where two logits tie within float error
MAX_LOGIT_REL_ERR = 1e-3  # max abs error / max |logit|


def export(module: nn.Module, path: Path, output_names, output_axes) -> Path:
    """TorchScript export with dynamic batch, height and width."""
    torch.onnx.export(module, (torch.randn(*TRACE_SHAPE), ), str(path), dynamo=False,
                      opset_version=OPSET, input_names=['input'],
                      output_names=list(output_names),
                      dynamic_axes={'input': {0: 'batch', 2: 'height', 3: 'width'},
                                    **output_axes})
    return path


# -- adaptive_avg_pool2d -----------------------------------------------------------
@pytest.mark.parametrize('bins', [1, 2, 3, 6, (2, 6), (3, None)])
@pytest.mark.parametrize('size', [(1, 1), (4, 4), (4, 9), (6, 6), (13, 17), (24, 24),
                                  (97, 131)])
def test_adaptive_avg_pool2d_is_exact(size, bins):
    torch.manual_seed(0)
    x = torch.randn(2, 5, *size) * 10
    expected = F.adaptive_avg_pool2d(x, bins)
    out = adaptive_avg_pool2d(x, bins)
    assert out.shape == expected.shape
    assert (out - expected).abs().max() <= 1e-6 * x.abs().max()
    # unbatched [C, H, W], as PyTorch allows
    assert torch.allclose(adaptive_avg_pool2d(x[0], bins), expected[0], rtol=0, atol=1e-5)


@pytest.mark.parametrize('output_size', [0, -1, 2.5, (2, 3, 4), True])
def test_adaptive_avg_pool2d_rejects_bad_output_size(output_size):
    with pytest.raises(ValueError, match='output_size must be a positive int'):
        adaptive_avg_pool2d(torch.zeros(1, 1, 4, 4), output_size)


def test_plain_adaptive_pool_is_refused_at_dynamic_sizes(tmp_path):
    """The trap: torch 2.13's TorchScript exporter lowers adaptive pooling to a fixed
    AveragePool and needs the static size for that, so dynamic H/W is an error."""
    with pytest.raises(torch.onnx.errors.SymbolicValueError,
                       match='adaptive_avg_pool2d, input size not accessible'):
        torch.onnx.export(nn.AdaptiveAvgPool2d(6), (torch.randn(1, 4, 24, 24), ),
                          str(tmp_path / 'plain.onnx'), dynamo=False,
                          opset_version=OPSET, input_names=['input'],
                          dynamic_axes={'input': {0: 'batch', 2: 'height', 3: 'width'}})


def test_global_adaptive_pool_exports_at_dynamic_sizes(tmp_path):
    """Why PPM's 1-bin pool is left alone: it becomes a size-free GlobalAveragePool."""
    path = tmp_path / 'global.onnx'
    torch.onnx.export(nn.AdaptiveAvgPool2d(1), (torch.randn(1, 4, 24, 24), ), str(path),
                      dynamo=False, opset_version=OPSET, input_names=['input'],
                      dynamic_axes={'input': {0: 'batch', 2: 'height', 3: 'width'}})
    assert [n.op_type for n in onnx.load(str(path)).graph.node] == ['GlobalAveragePool']
    session = onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    x = torch.randn(2, 4, 13, 17)
    out, = session.run(None, {'input': x.numpy()})
    assert np.allclose(out, F.adaptive_avg_pool2d(x, 1).numpy(), rtol=0, atol=1e-6)


@pytest.mark.parametrize('bins', [2, 3, 6])
def test_exported_adaptive_pool_follows_the_input_size(tmp_path, bins):
    module = ExportableAdaptiveAvgPool2d(bins).eval()
    path = tmp_path / 'pool.onnx'
    torch.onnx.export(module, (torch.randn(1, 4, 24, 24), ), str(path), dynamo=False,
                      opset_version=OPSET, input_names=['input'], output_names=['out'],
                      dynamic_axes={'input': {0: 'batch', 2: 'height', 3: 'width'}})
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert 'AveragePool' not in ops and 'MatMul' in ops
    session = onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    torch.manual_seed(0)
    for shape in [(1, 4, 24, 24), (2, 4, 13, 17), (1, 4, 4, 5), (1, 4, 97, 131),
                  (3, 4, 30, 42)]:
        x = torch.randn(*shape)
        out, = session.run(None, {'input': x.numpy()})
        expected = F.adaptive_avg_pool2d(x, bins).numpy()
        assert out.shape == expected.shape, shape
        assert np.abs(out - expected).max() <= 1e-6 * np.abs(x.numpy()).max(), shape


# -- models -----------------------------------------------------------------------
@pytest.fixture(scope='module')
def build_segmentor():
    """``build_segmentor(config)``: the config's EncoderDecoder with random weights in
    eval mode, 32 head channels and test-time padding to multiples of 32 (built once)."""
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    cache = {}

    def get(config: str):
        if config not in cache:
            cfg = Config.fromfile(str(ROOT / config))
            cfg.model.decode_head.channels = 32
            if cfg.model.get('auxiliary_head'):  # Semantic FPN has none
                cfg.model.auxiliary_head.channels = 16
            cfg.model.backbone.init_cfg = None
            cfg.model.data_preprocessor.test_cfg = dict(size_divisor=32)
            torch.manual_seed(0)
            cache[config] = MODELS.build(cfg.model).eval()
        return cache[config]

    return get


@pytest.fixture(scope='module')
def image_paths(shared_data, tmp_path_factory):
    """Three ADE20K validation photos, or synthetic images where the shared data is
    absent (the equivalence needs images, not these ones)."""
    try:
        return sorted((shared_data('ade_sample') / 'images' / 'validation').glob('*.jpg'))
    except pytest.skip.Exception:
        root = tmp_path_factory.mktemp('images')
        rng = np.random.default_rng(0)
        paths = []
        for i, (h, w) in enumerate([(512, 683), (364, 500), (300, 400)]):
            noise = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            img = cv2.GaussianBlur(noise, (0, 0), 8)
            cv2.imwrite(str(root / f'{i}.jpg'), img)
            paths.append(root / f'{i}.jpg')
        return paths


def preprocess(model, paths, scale, keep_ratio):
    """mmseg's test pipeline + the model's data preprocessor: (inputs, data_samples)."""
    from mmcv.transforms import LoadImageFromFile, Resize
    from mmseg.datasets.transforms import PackSegInputs
    pipeline = [LoadImageFromFile(), Resize(scale=scale, keep_ratio=keep_ratio),
                PackSegInputs()]
    packed = []
    for path in paths:
        results = dict(img_path=str(path))
        for transform in pipeline:
            results = transform(results)
        packed.append(results)
    data = model.data_preprocessor(
        dict(inputs=[p['inputs'] for p in packed],
             data_samples=[p['data_samples'] for p in packed]), training=False)
    return data['inputs'], data['data_samples']


@pytest.fixture(scope='module')
def wrapped(build_segmentor):
    """``wrapped(config)``: ExportableSegmentor with logits of the config's model."""
    cache = {}

    def get(config: str) -> ExportableSegmentor:
        if config not in cache:
            cache[config] = ExportableSegmentor(build_segmentor(config), with_logits=True)
        return cache[config]

    return get


def run(wrapper: ExportableSegmentor, inputs: torch.Tensor) -> dict:
    with torch.no_grad():
        outs = wrapper(inputs)
    return {name: out.numpy() for name, out in zip(wrapper.output_names, outs)}


# Batch 1: 512x683 -> 120x160 padded to 128x160. Batch 2: two photos of different
# original sizes resized to 100x150 and padded to 128x160.
BATCHES = {'batch1': ([0], (160, 160), True), 'batch2': ([1, 2], (150, 100), False)}


@pytest.mark.parametrize('batch', list(BATCHES))
@pytest.mark.parametrize('config', [TRTVIT_A, R50, TOY, FPN_TRTVIT_A, FPN_NEXTVIT_S])
def test_matches_mmseg_predict(build_segmentor, wrapped, image_paths, config, batch):
    model = build_segmentor(config)
    indices, scale, keep_ratio = BATCHES[batch]
    inputs, samples = preprocess(model, [image_paths[i] for i in indices], scale,
                                 keep_ratio)
    metas = [s.metainfo for s in samples]
    assert all(sum(m['img_padding_size']) > 0 for m in metas)  # padding is exercised
    with torch.no_grad():
        expected = model.predict(inputs, copy.deepcopy(samples))

    outputs = run(wrapped(config), inputs)
    ours = postprocess_segmentation(outputs, metas)
    for exp, got, meta in zip(expected, ours, metas):
        exp_labels, got_labels = exp.pred_sem_seg.data, got.pred_sem_seg.data
        assert got_labels.shape == exp_labels.shape == (1, *meta['ori_shape'])
        assert got_labels.dtype == exp_labels.dtype == torch.int64
        assert exp_labels.unique().numel() > 1  # a constant map would prove nothing
        # Same ops on the same logits up to the pooling's float rounding (~1e-7): an
        # argmax may only flip at an exact tie.
        agreement = (got_labels == exp_labels).float().mean().item()
        exp_logits, got_logits = exp.seg_logits.data, got.seg_logits.data
        err = (got_logits - exp_logits).abs().max().item()
        print(f'{Path(config).stem} {batch} {tuple(meta["ori_shape"])}: labels '
              f'{agreement:.5f}, logits max abs err {err:.2e} '
              f'(max |logit| {exp_logits.abs().max():.2f})')
        assert agreement >= MIN_LABEL_AGREEMENT
        assert got_logits.shape == exp_logits.shape
        assert err <= 1e-4 * exp_logits.abs().max()
        assert got.metainfo['ori_shape'] == meta['ori_shape']

    # Labels only, at the network's resolution (ori_shape = img_shape): mmseg's result.
    same_size = copy.deepcopy(samples)
    for s in same_size:
        s.set_metainfo(dict(ori_shape=tuple(s.metainfo['img_shape'])))
    with torch.no_grad():
        expected = model.predict(inputs, same_size)
    # what a labels-only export outputs: the same graph without its second output
    ours = postprocess_segmentation(dict(seg_labels=outputs['seg_labels']),
                                    [s.metainfo for s in same_size])
    for exp, got in zip(expected, ours):
        assert 'seg_logits' not in got
        assert got.pred_sem_seg.shape == exp.pred_sem_seg.shape
        assert (got.pred_sem_seg.data == exp.pred_sem_seg.data).float().mean() \
            >= MIN_LABEL_AGREEMENT


@pytest.mark.parametrize('flip', [None, 'horizontal', 'vertical'])
def test_postprocess_matches_mmseg_postprocess_result(build_segmentor, flip):
    """Host-side post-processing alone, on random logits: padding crop, flip, resize."""
    from mmseg.structures import SegDataSample
    model = build_segmentor(R50)
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 64, 96)
    flipped = dict(flip=flip is not None, flip_direction=flip)
    metas = [dict(ori_shape=(90, 131), img_shape=(50, 80), pad_shape=(64, 96),
                  padding_size=(0, 16, 0, 14), **flipped),
             dict(ori_shape=(40, 72), img_shape=(40, 72), pad_shape=(64, 96),
                  img_padding_size=(0, 24, 0, 24), **flipped)]
    expected = model.postprocess_result(logits.clone(),
                                        [SegDataSample(metainfo=m) for m in metas])
    labels = logits.argmax(1, keepdim=True).int().numpy()
    ours = postprocess_segmentation(dict(seg_labels=labels, seg_logits=logits.numpy()),
                                    metas)
    labels_only = postprocess_segmentation(dict(seg_labels=labels), metas)
    for exp, got, lab, meta in zip(expected, ours, labels_only, metas):
        assert torch.equal(got.pred_sem_seg.data, exp.pred_sem_seg.data)
        assert torch.equal(got.seg_logits.data, exp.seg_logits.data)
        assert lab.pred_sem_seg.shape == tuple(meta['ori_shape'])
    # Without resizing (2nd image: ori_shape == crop) labels alone give mmseg's result;
    # with it they are resized nearest-neighbour, not via bilinear logits.
    assert torch.equal(labels_only[1].pred_sem_seg.data, expected[1].pred_sem_seg.data)


def test_postprocess_crops_to_img_shape_without_padding_size():
    labels = np.arange(2 * 8 * 10, dtype=np.int32).reshape(2, 1, 8, 10)
    metas = [dict(img_shape=(5, 7), ori_shape=(5, 7)), dict(ori_shape=(8, 10))]
    first, second = postprocess_segmentation(dict(seg_labels=labels), metas)
    assert torch.equal(first.pred_sem_seg.data,
                       torch.from_numpy(labels[0, :, :5, :7]).long())
    assert torch.equal(second.pred_sem_seg.data, torch.from_numpy(labels[1]).long())


def test_postprocess_rejects_mismatched_outputs():
    labels = np.zeros((2, 1, 8, 8), np.int32)
    with pytest.raises(ValueError, match='1 image metas for a batch of 2 outputs'):
        postprocess_segmentation(dict(seg_labels=labels), [dict(ori_shape=(8, 8))])
    with pytest.raises(KeyError, match='need `seg_labels`'):
        postprocess_segmentation(dict(seg_logits=np.zeros((2, 3, 8, 8))), [{}, {}])
    with pytest.raises(ValueError, match=r'seg_labels must be \[B, 1, H, W\]'):
        postprocess_segmentation(dict(seg_labels=labels[:, 0]), [{}, {}])
    with pytest.raises(ValueError, match='does not match seg_labels'):
        logits = np.zeros((2, 3, 4, 4), np.float32)
        postprocess_segmentation(dict(seg_labels=labels, seg_logits=logits), [{}, {}])


# -- ExportableSegmentor ---------------------------------------------------------
def test_wrapper_replaces_pooling_on_a_copy(build_segmentor):
    model = build_segmentor(TRTVIT_A)
    wrapper = ExportableSegmentor(model, with_logits=True)
    assert wrapper.task == 'segmentation'
    assert wrapper.output_names == ('seg_labels', 'seg_logits')
    assert wrapper.output_axes == {name: {0: 'batch', 2: 'height', 3: 'width'}
                                   for name in wrapper.output_names}
    assert ExportableSegmentor(model).output_names == ('seg_labels', )
    # PPM bins 2, 3, 6 swapped; bin 1 is a GlobalAveragePool, exact at any size.
    assert wrapper.replaced_pools == [f'decode_head.psp_modules.{i}.0' for i in (1, 2, 3)]
    assert not any(isinstance(m, nn.AdaptiveAvgPool2d) and m.output_size != 1
                   for m in wrapper.modules())
    assert not hasattr(wrapper.model, 'auxiliary_head')
    # the caller's model is untouched
    assert all(type(ppm[0]) is nn.AdaptiveAvgPool2d
               for ppm in model.decode_head.psp_modules)
    assert model.auxiliary_head is not None


def test_wrapper_rejects_unsupported_segmentors(build_segmentor, monkeypatch):
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    with pytest.raises(TypeError, match='needs an mmseg EncoderDecoder.*got Conv2d'):
        ExportableSegmentor(nn.Conv2d(3, 3, 1))

    cascade = MODELS.build(dict(
        type='CascadeEncoderDecoder', num_stages=2,
        backbone=dict(type='ResNetV1c', depth=18, init_cfg=None),
        decode_head=[
            dict(type='FCNHead', in_channels=512, in_index=3, channels=8, num_convs=1,
                 num_classes=3),
            dict(type='OCRHead', in_channels=512, in_index=3, channels=8, ocr_channels=8,
                 num_classes=3)],
        test_cfg=dict(mode='whole')))
    with pytest.raises(TypeError,
                       match='CascadeEncoderDecoder is not supported for export'):
        ExportableSegmentor(cascade)

    model = build_segmentor(R50)
    monkeypatch.setattr(model.decode_head, 'out_channels', 1)
    with pytest.raises(TypeError, match='out_channels=1 .* is not supported for export'):
        ExportableSegmentor(model)
    monkeypatch.undo()
    monkeypatch.setattr(model, 'test_cfg',
                        ConfigDict(mode='slide', crop_size=(64, 64), stride=(32, 32)))
    with pytest.raises(TypeError,
                       match="test_cfg mode 'slide' is not supported for export"):
        ExportableSegmentor(model)


@pytest.fixture(scope='module')
def exported(wrapped, tmp_path_factory):
    """``exported(config)``: (eager wrapper with logits, path of its ONNX export)."""
    cache = {}

    def get(config: str):
        if config not in cache:
            wrapper = wrapped(config)
            path = tmp_path_factory.mktemp('onnx') / 'segmentor.onnx'
            export(wrapper, path, wrapper.output_names, wrapper.output_axes)
            cache[config] = wrapper, path
        return cache[config]

    return get


def check_ort_parity(wrapper, path):
    graph = onnx.load(str(path)).graph
    assert [d.dim_param for d in graph.input[0].type.tensor_type.shape.dim] == \
        ['batch', '', 'height', 'width']
    assert 'AveragePool' not in {n.op_type for n in graph.node}
    session = ORTBackend(path)
    assert session.output_names == wrapper.output_names
    torch.manual_seed(1)
    report = []
    for shape in ORT_SHAPES:
        x = torch.randn(*shape)
        with torch.no_grad():
            labels, logits = (o.numpy() for o in wrapper(x))
        out = session(x)
        assert out['seg_labels'].dtype == np.int32
        assert out['seg_logits'].dtype == np.float32
        assert out['seg_labels'].shape == (shape[0], 1, *shape[2:])
        assert out['seg_logits'].shape == (shape[0], wrapper.num_classes, *shape[2:])
        agreement = (out['seg_labels'] == labels).mean()
        err = np.abs(out['seg_logits'] - logits).max()
        report.append(f'{shape}: labels {agreement:.5f}, logits max abs err {err:.2e} '
                      f'(max |logit| {np.abs(logits).max():.2f})')
        assert agreement >= MIN_LABEL_AGREEMENT, report[-1]
        assert err <= MAX_LOGIT_REL_ERR * np.abs(logits).max(), report[-1]
    print('\n'.join(report))


# R50 is the baseline, not the deployed model, and its export + 5 ORT runs took 20 s on
# 2 shared cores.
@pytest.mark.parametrize('config', [TRTVIT_A, pytest.param(R50, marks=pytest.mark.slow)])
def test_onnx_parity(exported, config):
    check_ort_parity(*exported(config))
