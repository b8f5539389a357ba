"""FP16 conversion: which ops stay float32, graph validity, atomic writes, accuracy."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from tools.analysis.fp16_reference import fp16_report, run_onnx
from trtvit_dense.deploy.quantize import fp16 as fp16_module
from trtvit_dense.deploy.quantize.fp16 import FP32_OPS, convert_to_fp16, ops_requiring_fp32

# dynamo=False (the TorchScript exporter) is what the deploy pipeline uses.
pytestmark = [
    pytest.mark.filterwarnings('ignore:You are using the legacy TorchScript-based ONNX'),
    pytest.mark.filterwarnings('ignore:The feature will be removed:DeprecationWarning'),
]

# Error of fp16 outputs relative to the output scale (max |fp32 output|). Measured with
# the fp16 reference runtime (tools/analysis/fp16_accuracy.py): <= 1.3e-3 for TRTViT-a
# at 224x224 and 320x480, <= 1e-3 for the small net; 5e-3 is ~10 fp16 ulps (2^-11) of
# the scale. With everything fp16 and a few outlier channels (as trained ViTs have) the
# naive fp16 LayerNorm overflows and the mean error grows 30-50 times.
REL_TOL = 5e-3
# Fast PyTorch kernels of the reference runtime against ORT on fp32 graphs.
KERNEL_TOL = 1e-5
# Reductions whose accumulation needs fp32 (ReduceMax/ReduceMin are exact in fp16).
ACCUMULATING = {'LayerNormalization', 'Softmax', 'ReduceMean', 'ReduceSum', 'ReduceL2',
                'ReduceSumSquare', 'ReduceL1', 'ReduceProd', 'ReduceLogSumExp'}


class SmallNet(nn.Module):
    """Conv+BN+ReLU, LayerNorm, one attention head with Softmax, GELU MLP, ReduceMean."""

    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(3, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU())
        self.norm = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.mlp = nn.Sequential(
            nn.Linear(channels, 2 * channels), nn.GELU(), nn.Linear(2 * channels, channels))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = self.conv(x).flatten(2).transpose(1, 2)
        q, k, v = self.qkv(self.norm(tokens)).chunk(3, dim=-1)
        attn = (q @ k.transpose(-2, -1) * q.shape[-1]**-0.5).softmax(dim=-1)
        tokens = tokens + attn @ v
        tokens = tokens + self.mlp(tokens)
        return tokens, tokens.mean(dim=-1)


class SegHead(nn.Module):
    """Logits at 1/4 resolution, bilinear Resize to the input, ArgMax."""

    def __init__(self, num_classes: int = 19) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(3, 32, 4, stride=4), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, num_classes, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = F.interpolate(self.conv(x), size=x.shape[2:], mode='bilinear',
                               align_corners=False)
        return logits, logits.argmax(dim=1, keepdim=True)


def randomise_batchnorms(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BN statistics and affine parameters, as a trained model has."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model.eval()


def export(model: nn.Module, path: Path, size: tuple[int, int], **kwargs) -> Path:
    torch.onnx.export(
        model, (torch.randn(1, 3, *size), ), str(path), dynamo=False, opset_version=17,
        input_names=['input'], dynamic_axes={'input': {0: 'batch', 2: 'height', 3: 'width'}},
        **kwargs)
    return path


def images(size: tuple[int, int], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((1, 3, *size)).astype(np.float32)


def float_types_of(model: onnx.ModelProto) -> tuple[dict[str, int], list[onnx.NodeProto]]:
    """Element types of all tensors after shape inference, and the nodes."""
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    types = {t.name: t.data_type for t in inferred.graph.initializer}
    for v in (*inferred.graph.input, *inferred.graph.output, *inferred.graph.value_info):
        types[v.name] = v.type.tensor_type.elem_type
    return types, list(inferred.graph.node)


def float_io(node: onnx.NodeProto, types: dict[str, int]) -> list[int]:
    floats = (TensorProto.FLOAT, TensorProto.FLOAT16)
    return [types[n] for n in (*node.input, *node.output) if n and types.get(n) in floats]


def initializer_types(model: onnx.ModelProto) -> dict[str, int]:
    return {t.name: t.data_type for t in model.graph.initializer}


@pytest.fixture(scope='module')
def small_onnx(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = randomise_batchnorms(SmallNet())
    return export(model, tmp_path_factory.mktemp('small') / 'small.onnx', (8, 8))


@pytest.fixture(scope='module')
def trtvit_onnx(tmp_path_factory) -> Path:
    from trtvit_dense.models import TRTViT
    torch.manual_seed(0)
    model = randomise_batchnorms(TRTViT(arch='a', out_indices=(0, 1, 2, 3)))
    return export(model, tmp_path_factory.mktemp('trtvit') / 'trtvit_a.onnx', (64, 64))


@pytest.fixture(scope='module')
def seg_onnx(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = randomise_batchnorms(SegHead())
    return export(model, tmp_path_factory.mktemp('seg') / 'seg.onnx', (64, 64),
                  output_names=['seg_logits', 'seg_labels'])


@pytest.fixture(params=['small', pytest.param('trtvit', marks=pytest.mark.slow)])
def exported(request) -> tuple[Path, tuple[int, int]]:
    """An exported fp32 model and an input size it runs at."""
    if request.param == 'small':
        return request.getfixturevalue('small_onnx'), (8, 8)
    return request.getfixturevalue('trtvit_onnx'), (64, 64)


def test_fp32_ops_compute_in_float32(exported, tmp_path):
    src, _ = exported
    stats = convert_to_fp16(src, tmp_path / 'fp16.onnx')
    types, nodes = float_types_of(onnx.load(str(tmp_path / 'fp16.onnx')))
    kept = [n for n in nodes if n.op_type in ACCUMULATING]
    assert {n.op_type for n in kept} >= {'LayerNormalization', 'Softmax'}
    for node in kept:
        dtypes = float_io(node, types)
        assert dtypes and set(dtypes) == {TensorProto.FLOAT}, (node.name, dtypes)
    source_ops = [n.op_type for n in onnx.load(str(src)).graph.node]
    assert stats['fp32_ops']['LayerNormalization'] == source_ops.count('LayerNormalization')
    assert stats['fp32_ops']['Softmax'] == source_ops.count('Softmax')
    assert stats['kept_fp32_ops'] == sorted(FP32_OPS)


def test_weights_fp16_and_norm_parameters_fp32(exported, tmp_path):
    src, _ = exported
    convert_to_fp16(src, tmp_path / 'fp16.onnx')
    model = onnx.load(str(tmp_path / 'fp16.onnx'))
    inits = initializer_types(model)
    weights = [n.input[1] for n in model.graph.node
               if n.op_type in ('Conv', 'MatMul') and n.input[1] in inits]
    assert weights and all(inits[w] == TensorProto.FLOAT16 for w in weights)
    norm_params = [name for n in model.graph.node if n.op_type == 'LayerNormalization'
                   for name in n.input[1:] if name in inits]
    assert norm_params and all(inits[p] == TensorProto.FLOAT for p in norm_params)


def test_graph_valid_and_io_types(small_onnx, tmp_path):
    convert_to_fp16(small_onnx, tmp_path / 'io32.onnx')
    convert_to_fp16(small_onnx, tmp_path / 'io16.onnx', keep_io_types=False)
    for name, dtype in (('io32', TensorProto.FLOAT), ('io16', TensorProto.FLOAT16)):
        model = onnx.load(str(tmp_path / f'{name}.onnx'))
        onnx.checker.check_model(model, full_check=True)
        io = [*model.graph.input, *model.graph.output]
        assert {v.type.tensor_type.elem_type for v in io} == {dtype}
        # Dynamic axes survive the conversion.
        assert model.graph.input[0].type.tensor_type.shape.dim[2].dim_param == 'height'
    report = fp16_report(small_onnx, tmp_path / 'io16.onnx', images((8, 8)))
    assert all(r['rel'] < REL_TOL for r in report.values()), report


def test_stats_count_every_node(small_onnx, tmp_path):
    stats = convert_to_fp16(small_onnx, tmp_path / 'fp16.onnx')
    model = onnx.load(str(tmp_path / 'fp16.onnx'))
    counted = (stats['fp16_nodes'] + stats['fp32_nodes'] + stats['cast_nodes']
               + stats['other_nodes'])
    assert counted == len(model.graph.node)
    assert stats['fp16_nodes'] > stats['fp32_nodes'] > 0
    assert stats['required_fp32_ops'] == []


def test_fp16_close_to_fp32(exported, tmp_path):
    src, size = exported
    convert_to_fp16(src, tmp_path / 'fp16.onnx')
    for runtime in ('reference', 'onnxruntime'):
        report = fp16_report(src, tmp_path / 'fp16.onnx', images(size), runtime)
        for name, err in report.items():
            assert err['nonfinite'] == 0, (runtime, name)
            assert err['rel'] < REL_TOL, (runtime, name, err)
            assert err['max_abs'] > 0, (runtime, name)  # really ran in lower precision


def test_reference_runtime_matches_onnxruntime_in_fp32(exported, seg_onnx):
    """The PyTorch-backed kernels of the reference runtime are exact in fp32."""
    src, size = exported
    for path, shape in ((src, size), (seg_onnx, (64, 64))):
        ours = run_onnx(path, images(shape), 'reference')
        ort = run_onnx(path, images(shape), 'onnxruntime')
        for name, value in ort.items():
            scale = max(float(np.abs(value).max()), 1.)
            assert np.abs(ours[name] - value).max() <= KERNEL_TOL * scale, name


def test_outliers_overflow_only_without_fp32_ops(tmp_path):
    """Channels of a few hundred (as in trained ViTs) make (x - mean)^2 overflow fp16."""
    torch.manual_seed(0)
    model = randomise_batchnorms(SmallNet())
    with torch.no_grad():
        model.conv[1].weight[:2] *= 300
    src = export(model, tmp_path / 'outliers.onnx', (8, 8))
    convert_to_fp16(src, tmp_path / 'kept.onnx')
    convert_to_fp16(src, tmp_path / 'all.onnx', keep_fp32_ops=())
    x = images((8, 8))
    kept = fp16_report(src, tmp_path / 'kept.onnx', x)
    with np.errstate(over='ignore', invalid='ignore'):
        everything = fp16_report(src, tmp_path / 'all.onnx', x)
    assert all(r['rel'] < REL_TOL and r['nonfinite'] == 0 for r in kept.values()), kept
    # The outlier channels set the max-based scale, so compare the mean errors: an
    # overflowing variance zeroes the normalised tokens (measured: 1.4e-2 vs 4.7e-4).
    assert max(r['rel_mean'] for r in everything.values()) > 10 * max(
        r['rel_mean'] for r in kept.values()), everything


def test_empty_block_list_converts_norms(small_onnx, tmp_path):
    stats = convert_to_fp16(small_onnx, tmp_path / 'all.onnx', keep_fp32_ops=())
    types, nodes = float_types_of(onnx.load(str(tmp_path / 'all.onnx')))
    norms = [n for n in nodes if n.op_type in ('LayerNormalization', 'Softmax')]
    assert norms and all(set(float_io(n, types)) == {TensorProto.FLOAT16} for n in norms)
    assert stats['fp32_ops'] == {} and stats['kept_fp32_ops'] == []


def test_decomposed_norm_stays_fp32_end_to_end(tmp_path):
    """A decomposed L2 norm (Pow -> ReduceMean -> Add eps -> Sqrt) is one fp32 island:
    no fp16 round trip between its nodes, so inputs of 300 (300^2 > 65504) and a
    variance of ~9e4 do not overflow."""

    class L2Norm(nn.Module):

        def forward(self, x):
            return x / (x.pow(2).mean(dim=1, keepdim=True) + 1e-6).sqrt()

    src = export(L2Norm(), tmp_path / 'l2.onnx', (4, 4))
    stats = convert_to_fp16(src, tmp_path / 'l2_fp16.onnx')
    model = onnx.load(str(tmp_path / 'l2_fp16.onnx'))
    types, nodes = float_types_of(model)
    producer = {out: n for n in nodes for out in n.output}
    sqrt = next(n for n in nodes if n.op_type == 'Sqrt')
    add = producer[sqrt.input[0]]
    assert add.op_type == 'Add' and set(float_io(add, types)) == {TensorProto.FLOAT}
    assert producer[add.input[0]].op_type == 'ReduceMean'
    assert stats['absorbed_fp32_nodes'] >= 1
    report = fp16_report(src, tmp_path / 'l2_fp16.onnx', images((4, 4)) * 300)
    output = report[model.graph.output[0].name]
    assert output['nonfinite'] == 0 and output['rel'] < REL_TOL, output


def test_segmentation_resize_argmax(seg_onnx, tmp_path):
    convert_to_fp16(seg_onnx, tmp_path / 'seg_fp16.onnx')
    model = onnx.load(str(tmp_path / 'seg_fp16.onnx'))
    onnx.checker.check_model(model, full_check=True)
    types, nodes = float_types_of(model)
    resize = next(n for n in nodes if n.op_type == 'Resize')
    assert types[resize.input[0]] == TensorProto.FLOAT16
    for runtime in ('reference', 'onnxruntime'):
        report = fp16_report(seg_onnx, tmp_path / 'seg_fp16.onnx', images((64, 64)), runtime)
        assert report['seg_logits']['rel'] < REL_TOL, report
        # Labels flip only where the top two logits tie within fp16 precision.
        assert report['seg_labels']['mismatch'] < 1e-2, report


def detection_graph(path: Path, num_boxes: int = 32) -> Path:
    """Box decoding, NonMaxSuppression, TopK, RoiAlign and float Range on shapes."""
    f = TensorProto.FLOAT
    const = numpy_helper.from_array
    nodes = [
        helper.make_node('Conv', ['image', 'conv_w'], ['feat'], pads=[1, 1, 1, 1],
                         name='conv'),
        helper.make_node('Slice', ['proposals', 'zero', 'four', 'two'], ['deltas'],
                         name='slice_deltas'),
        helper.make_node('Mul', ['deltas', 'box_scale'], ['scaled'], name='decode_mul'),
        helper.make_node('Add', ['scaled', 'box_offset'], ['boxes'], name='decode_add'),
        helper.make_node('Slice', ['proposals', 'four', 'five', 'two'], ['logits'],
                         name='slice_logits'),
        helper.make_node('Sigmoid', ['logits'], ['probs'], name='sigmoid'),
        helper.make_node('Transpose', ['probs'], ['scores'], perm=[0, 2, 1], name='scores'),
        helper.make_node('NonMaxSuppression',
                         ['boxes', 'scores', 'max_per_class', 'iou_thr', 'score_thr'],
                         ['selected'], name='nms'),
        helper.make_node('Gather', ['selected', 'two_scalar'], ['keep'], axis=1, name='keep'),
        helper.make_node('Squeeze', ['boxes', 'zero_axis'], ['boxes2d'], name='squeeze'),
        helper.make_node('Gather', ['boxes2d', 'keep'], ['dets'], axis=0, name='gather_dets'),
        helper.make_node('Shape', ['keep'], ['num_kept'], name='num_kept'),
        helper.make_node('ConstantOfShape', ['num_kept'], ['batch_idx'],
                         value=const(np.zeros(1, np.int64)), name='batch_idx'),
        helper.make_node('RoiAlign', ['feat', 'dets', 'batch_idx'], ['rois'],
                         output_height=4, output_width=4, spatial_scale=1 / 32,
                         sampling_ratio=2, name='roi_align'),
        helper.make_node('ReduceMean', ['rois'], ['roi_feats'], axes=[2, 3], keepdims=0,
                         name='roi_mean'),
        helper.make_node('Flatten', ['scores'], ['flat_scores'], axis=0, name='flatten'),
        helper.make_node('Squeeze', ['flat_scores', 'zero_axis'], ['score_vec'],
                         name='squeeze_scores'),
        helper.make_node('TopK', ['score_vec', 'k'], ['top_scores', 'top_idx'], name='topk'),
        helper.make_node('Shape', ['score_vec'], ['n_shape'], name='n_shape'),
        helper.make_node('Cast', ['n_shape'], ['n_float'], to=f, name='n_float'),
        helper.make_node('Squeeze', ['n_float', 'zero_axis'], ['n'], name='n'),
        helper.make_node('Range', ['start', 'n', 'step'], ['ranks'], name='range'),
        helper.make_node('Mul', ['ranks', 'top_scale'], ['scaled_ranks'], name='rank_mul'),
    ]
    rng = np.random.default_rng(0)
    initializers = [
        const(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), 'conv_w'),
        const(np.array([0], np.int64), 'zero'), const(np.array([4], np.int64), 'four'),
        const(np.array([5], np.int64), 'five'), const(np.array([2], np.int64), 'two'),
        const(np.array(2, np.int64), 'two_scalar'),
        const(np.array([0], np.int64), 'zero_axis'),
        const(np.array([200., 200., 200., 200.], np.float32), 'box_scale'),
        const(np.array([300., 300., 700., 700.], np.float32), 'box_offset'),
        const(np.array([8], np.int64), 'max_per_class'),
        const(np.array([0.5], np.float32), 'iou_thr'),
        const(np.array([0.1], np.float32), 'score_thr'),
        const(np.array([5], np.int64), 'k'),
        const(np.array(0., np.float32), 'start'), const(np.array(1., np.float32), 'step'),
        const(np.array(0.5, np.float32), 'top_scale'),
    ]
    graph = helper.make_graph(
        nodes, 'detection', [
            helper.make_tensor_value_info('image', f, [1, 3, 32, 32]),
            helper.make_tensor_value_info('proposals', f, [1, num_boxes, 5]),
        ], [
            helper.make_tensor_value_info('dets', f, ['num_dets', 4]),
            helper.make_tensor_value_info('selected', TensorProto.INT64, ['num_dets', 3]),
            helper.make_tensor_value_info('roi_feats', f, ['num_dets', 4]),
            helper.make_tensor_value_info('top_scores', f, [5]),
            helper.make_tensor_value_info('top_idx', TensorProto.INT64, [5]),
            helper.make_tensor_value_info('scaled_ranks', f, [num_boxes]),
        ], initializers)
    # IR 8 goes with opset 17; onnx 1.20 would write IR 13, which ORT 1.23 cannot read.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)], ir_version=8)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def detection_inputs(num_boxes: int = 32) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    proposals = rng.standard_normal((1, num_boxes, 5)).astype(np.float32)
    proposals[..., 2:4] = np.abs(proposals[..., 2:4])  # x2 >= x1 after decoding
    return dict(image=rng.standard_normal((1, 3, 32, 32)).astype(np.float32),
                proposals=proposals)


@pytest.mark.parametrize('keep_fp32_ops', [FP32_OPS, ()], ids=['fp32-kept', 'all-fp16'])
def test_detection_postprocess_stays_valid(tmp_path, keep_fp32_ops):
    src = detection_graph(tmp_path / 'det.onnx')
    assert ops_requiring_fp32(onnx.load(str(src))) == {'NonMaxSuppression', 'Range'}
    stats = convert_to_fp16(src, tmp_path / 'det_fp16.onnx', keep_fp32_ops=keep_fp32_ops)
    assert stats['required_fp32_ops'] == ['NonMaxSuppression', 'Range']
    types, nodes = float_types_of(onnx.load(str(tmp_path / 'det_fp16.onnx')))
    for node in nodes:
        if node.op_type in ('NonMaxSuppression', 'Range'):
            assert set(float_io(node, types)) == {TensorProto.FLOAT}, node.name
    report = fp16_report(src, tmp_path / 'det_fp16.onnx', detection_inputs(), 'onnxruntime')
    assert report['selected']['mismatch'] == 0 and report['top_idx']['mismatch'] == 0
    assert report['scaled_ranks']['max_abs'] == 0  # integers are exact in fp16
    assert report['dets']['rel'] < REL_TOL and report['top_scores']['rel'] < REL_TOL


def test_keep_fp32_nodes_makes_box_path_exact(tmp_path):
    """Box decoding named in keep_fp32_nodes reaches NMS and the output in fp32."""
    src = detection_graph(tmp_path / 'det.onnx')
    box_path = ['slice_deltas', 'decode_mul', 'decode_add', 'squeeze', 'gather_dets']
    convert_to_fp16(src, tmp_path / 'det_fp16.onnx', keep_fp32_nodes=box_path)
    types, nodes = float_types_of(onnx.load(str(tmp_path / 'det_fp16.onnx')))
    assert all(set(float_io(n, types)) == {TensorProto.FLOAT}
               for n in nodes if n.name in box_path)
    report = fp16_report(src, tmp_path / 'det_fp16.onnx', detection_inputs(), 'onnxruntime')
    assert report['dets']['max_abs'] == 0 and report['selected']['mismatch'] == 0
    with pytest.raises(ValueError, match=r"does not have: \['decode_sub'\]"):
        convert_to_fp16(src, tmp_path / 'typo.onnx', keep_fp32_nodes=['decode_sub'])
    assert not (tmp_path / 'typo.onnx').exists()


def test_writes_atomically(small_onnx, tmp_path):
    dst = tmp_path / 'out' / 'fp16.onnx'
    convert_to_fp16(small_onnx, dst)
    assert [p.name for p in dst.parent.iterdir()] == ['fp16.onnx']
    onnx.checker.check_model(str(dst), full_check=True)


def test_failed_check_leaves_no_output(small_onnx, tmp_path, monkeypatch):

    def reject(*args, **kwargs):
        raise onnx.checker.ValidationError('rejected by the test')

    monkeypatch.setattr(fp16_module.onnx.checker, 'check_model', reject)
    with pytest.raises(ValueError, match='not a valid ONNX model: rejected by the test'):
        convert_to_fp16(small_onnx, tmp_path / 'fp16.onnx')
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_old_output(small_onnx, tmp_path, monkeypatch):
    dst = tmp_path / 'fp16.onnx'
    dst.write_bytes(b'previous')

    def fail_midway(model, path, *args, **kwargs):
        Path(path).write_bytes(b'partial')
        raise OSError('disk full')

    monkeypatch.setattr(fp16_module.onnx, 'save', fail_midway)
    with pytest.raises(OSError, match='disk full'):
        convert_to_fp16(small_onnx, dst)
    assert [p.name for p in tmp_path.iterdir()] == ['fp16.onnx']
    assert dst.read_bytes() == b'previous'


def test_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        convert_to_fp16(tmp_path / 'missing.onnx', tmp_path / 'out.onnx')
    text = tmp_path / 'model.onnx'
    text.write_text('not a protobuf, just text\n')
    with pytest.raises(ValueError, match='is not an ONNX model'):
        convert_to_fp16(text, tmp_path / 'out.onnx')
    with pytest.raises(ValueError, match="runtime must be one of .* got 'tensorrt'"):
        run_onnx(text, np.zeros((1, 3, 8, 8), np.float32), runtime='tensorrt')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['model.onnx']


def test_control_flow_is_refused(tmp_path):
    f = TensorProto.FLOAT
    branch = helper.make_graph([helper.make_node('Identity', ['x'], ['y'])], 'branch', [],
                               [helper.make_tensor_value_info('y', f, [1])])
    graph = helper.make_graph(
        [helper.make_node('ReduceMax', ['x'], ['m'], keepdims=0),
         helper.make_node('Cast', ['m'], ['c'], to=TensorProto.BOOL),
         helper.make_node('If', ['c'], ['out'], then_branch=branch, else_branch=branch)],
        'if', [helper.make_tensor_value_info('x', f, [1])],
        [helper.make_tensor_value_info('out', f, [1])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)]),
              str(tmp_path / 'if.onnx'))
    with pytest.raises(ValueError, match=r'has control flow \(If\)'):
        convert_to_fp16(tmp_path / 'if.onnx', tmp_path / 'out.onnx')
    assert not (tmp_path / 'out.onnx').exists()
