"""Int8 QDQ quantization: what is quantized and what stays float, the TensorRT and
ONNX Runtime schemes, dynamic shapes, accuracy against fp32, the deploy tool's
calibration inputs and errors, and int8 rows in the benchmark."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, numpy_helper
from torch import nn

from conftest import save_checkpoint

from tools import deploy as deploy_tool
from trtvit_dense.deploy.quantize import int8 as int8_module
from trtvit_dense.deploy.quantize.int8 import (FLOAT_OPS, INT8_TOLERANCES,
                                               CalibrationImages, dequantized_readers,
                                               excluded_nodes, quantize_int8,
                                               quantized_nodes, spread)

ROOT = Path(__file__).parents[2]

# dynamo=False (the TorchScript exporter) is what the deploy pipeline uses.
pytestmark = [
    pytest.mark.filterwarnings('ignore:You are using the legacy TorchScript-based ONNX'),
    pytest.mark.filterwarnings('ignore:The feature will be removed:DeprecationWarning'),
    pytest.mark.filterwarnings('ignore:Please consider'),
]
MEAN, STD = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)
# Error of the int8 graph against the fp32 graph, relative to the output's scale (max
# |fp32 output|), for the small net below calibrated on 8 images and run on 4 others at
# the three shapes of the test: measured 0.015-0.016 with the ONNX Runtime scheme (uint8
# activations over their calibrated [min, max]) and 0.025-0.035 with TensorRT's (int8
# symmetric activations: a ReLU output uses half of the 255 steps). 0.07 is twice the
# worst; what a quantized LayerNorm or attention would do is checked structurally.
REL_TOL = 0.07


class SmallNet(nn.Module):
    """Conv+BN+ReLU stem, a patch conv, LayerNorm, one attention head (Softmax), a GELU
    MLP with residuals, a hand-written LayerNorm (ReduceMean/Pow/Sqrt/Div, as an
    opset < 17 export decomposes it) and a conv head: what the int8 step must keep float
    and what it must quantize, small enough to calibrate in a second."""

    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1),
                                  nn.BatchNorm2d(16), nn.ReLU())
        self.patch = nn.Conv2d(16, channels, 2, stride=2)
        self.norm = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)
        self.mlp = nn.Sequential(nn.Linear(channels, 2 * channels), nn.GELU(),
                                 nn.Linear(2 * channels, channels))
        self.head = nn.Conv2d(channels, 5, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch(self.stem(x))
        b, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        q, k, v = self.qkv(self.norm(tokens)).chunk(3, dim=-1)
        attn = (q @ k.transpose(-2, -1) * c**-0.5).softmax(dim=-1)
        tokens = tokens + self.proj(attn @ v)
        mean = tokens.mean(-1, keepdim=True)
        var = (tokens - mean).pow(2).mean(-1, keepdim=True)
        normed = (tokens - mean) / (var + 1e-5).sqrt()
        tokens = tokens + self.mlp(normed)
        return self.head(tokens.transpose(1, 2).reshape(b, c, h, w))


def images(num: int, seed: int) -> list[np.ndarray]:
    """Deterministic BGR uint8 images with structure (blobs on a gradient), 40-72 px."""
    rng = np.random.RandomState(seed)
    out = []
    for _ in range(num):
        h, w = rng.randint(40, 73, size=2)
        img = np.zeros((h, w, 3), np.uint8)
        img[:] = np.linspace(0, 255, w, dtype=np.uint8)[None, :, None]
        for _ in range(3):
            centre = (int(rng.randint(w)), int(rng.randint(h)))
            cv2.circle(img, centre, int(rng.randint(4, 15)),
                       tuple(int(c) for c in rng.randint(0, 256, 3)), -1)
        out.append(img)
    return out


def batch(imgs, shape) -> np.ndarray:
    from trtvit_dense.deploy.verify import make_inputs
    return make_inputs(imgs, shape, MEAN, STD, True)


@pytest.fixture(scope='module')
def fp32_onnx(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = SmallNet().eval()
    with torch.no_grad():  # trained-like BN statistics
        bn = model.stem[1]
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    path = tmp_path_factory.mktemp('int8') / 'small.onnx'
    torch.onnx.export(model, torch.zeros(1, 3, 48, 48), str(path), input_names=['input'],
                      output_names=['out'], opset_version=17, dynamo=False,
                      dynamic_axes={'input': {0: 'batch', 2: 'height', 3: 'width'}})
    model_proto = onnx.load(str(path))
    model_proto.metadata_props.add(key='trtvit_dense.signature', value='{"task": "test"}')
    onnx.save(model_proto, str(path))
    return path


@pytest.fixture(scope='module')
def quantized(fp32_onnx, tmp_path_factory) -> dict:
    """The small net quantized for both targets: {target: (path, stats)}."""
    out = {}
    for target in ('onnxruntime', 'tensorrt'):
        path = tmp_path_factory.mktemp(target) / 'small_int8.onnx'
        reader = CalibrationImages(images(8, seed=1), (48, 48), MEAN, STD, True)
        out[target] = path, quantize_int8(fp32_onnx, path, reader, target=target)
    return out


def nodes_of(model: onnx.ModelProto, op_type: str) -> list[onnx.NodeProto]:
    return [n for n in model.graph.node if n.op_type == op_type]


def producers(model: onnx.ModelProto) -> dict[str, onnx.NodeProto]:
    return {o: n for n in model.graph.node for o in n.output}


# -- unit -----------------------------------------------------------------------------
def test_spread_covers_the_list_evenly():
    assert spread(list(range(10)), 4) == [0, 3, 6, 9]
    assert spread(list(range(3)), 5) == [0, 1, 2]
    assert spread(['a', 'b'], 1) == ['a']
    with pytest.raises(ValueError, match='num must be >= 1'):
        spread([1], 0)


def test_calibration_reader_preprocesses_like_verification():
    imgs = images(3, seed=2)
    reader = CalibrationImages(imgs, (40, 56), MEAN, STD, True)
    assert len(reader) == 3
    got = list(reader)
    assert [set(g) for g in got] == [{'input'}] * 3
    assert got[1]['input'].shape == (1, 3, 40, 56) and got[1]['input'].dtype == np.float32
    np.testing.assert_array_equal(got[1]['input'], batch([imgs[1]], (1, 3, 40, 56)))
    assert reader.get_next() is None
    with pytest.raises(ValueError, match='at least one image'):
        CalibrationImages([], (40, 40), MEAN, STD, True)


def test_excluded_nodes_are_the_activation_matmuls(fp32_onnx):
    model = onnx.load(str(fp32_onnx))
    excluded = excluded_nodes(model)
    matmuls = nodes_of(model, 'MatMul')
    # Q @ K^T and attn @ V; the four Linear layers have stored weights
    assert len(matmuls) == 6 and len(excluded) == 2
    assert all('both inputs are activations' in r for r in excluded.values())


@pytest.mark.parametrize('kwargs, match', [
    (dict(target='tflite'), "target must be one of .*'tflite'"),
    (dict(calibrate_method='mse'), "calibrate_method must be one of .*'mse'"),
])
def test_bad_arguments(fp32_onnx, tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        quantize_int8(fp32_onnx, tmp_path / 'q.onnx', iter([]), **kwargs)
    assert not (tmp_path / 'q.onnx').exists()


# -- the QDQ graph ----------------------------------------------------------------------
@pytest.mark.parametrize('target', ['onnxruntime', 'tensorrt'])
def test_qdq_graph_quantizes_conv_and_linear_weights_int8_symmetric(quantized, target):
    path, stats = quantized[target]
    model = onnx.load(str(path))
    assert nodes_of(model, 'QuantizeLinear') and nodes_of(model, 'DequantizeLinear')
    stored = {t.name: t for t in model.graph.initializer}
    producer = producers(model)
    names = set(quantized_nodes(model))
    convs = nodes_of(model, 'Conv')
    int8_convs = [c for c in convs if c.name in names]
    assert int8_convs, 'no conv computes in int8'
    for conv in int8_convs:
        dq = producer[conv.input[1]]
        weight = stored[dq.input[0]]
        assert weight.data_type == TensorProto.INT8
        q = numpy_helper.to_array(weight)
        assert np.abs(q.astype(int)).max() <= 127  # symmetric: -128 is never used
        assert not numpy_helper.to_array(stored[dq.input[2]]).any()  # zero points 0
        scales = numpy_helper.to_array(stored[dq.input[1]])
        assert scales.shape == (q.shape[0], )  # one scale per output channel
    # the four Linear layers (qkv, proj, mlp) read int8 weights
    assert stats['quantized']['MatMul'] == '4/6'
    assert stats['scheme']['weights']['nonzero_zero_points'] == 0


def test_activation_schemes_of_the_two_targets(quantized):
    ort_scheme = quantized['onnxruntime'][1]['scheme']
    trt_scheme = quantized['tensorrt'][1]['scheme']
    assert set(ort_scheme['activations']['types']) == {'UINT8'}
    assert ort_scheme['biases']['types'] == {'INT32': ort_scheme['biases']['types']['INT32']}
    assert set(trt_scheme['activations']['types']) == {'INT8'}
    assert trt_scheme['activations']['nonzero_zero_points'] == 0
    assert trt_scheme['biases']['types'] == {}  # TensorRT dequantizes no INT32


def test_float_ops_and_attention_read_float(quantized):
    for path, stats in quantized.values():
        model = onnx.load(str(path))
        producer = producers(model)
        attention = [n for n in nodes_of(model, 'MatMul') if n.name in stats['excluded']]
        sensitive = (nodes_of(model, 'LayerNormalization') + nodes_of(model, 'Softmax')
                     + attention + nodes_of(model, 'ReduceMean') + nodes_of(model, 'Pow')
                     + nodes_of(model, 'Sqrt') + nodes_of(model, 'Div'))
        assert len(attention) == 2 and nodes_of(model, 'LayerNormalization')
        assert nodes_of(model, 'Sqrt'), 'the hand-written norm was not exported'
        for node in sensitive:
            for name in node.input:
                parent = producer.get(name)
                assert parent is None or parent.op_type != 'DequantizeLinear', \
                    f'{node.op_type} {node.name} reads {name} from a DequantizeLinear'
        # nor through reshapes/transposes/adds: nothing on a float path reads int8
        assert dequantized_readers(model) == []
        # the graph output is float, not a dequantized copy
        assert producer['out'].op_type != 'DequantizeLinear'
        assert stats['float_ops']['LayerNormalization'] == 1
        assert stats['float_ops']['Softmax'] == 1


def test_the_check_finds_quantized_float_ops(fp32_onnx, tmp_path):
    """ORT's quantizer on its own quantizes both inputs of the attention MatMuls, the
    scaled logits before Softmax, the tokens before LayerNorm (via Reshape) and the graph
    output: what the restoring step undoes and :func:`dequantized_readers` finds."""
    from onnxruntime.quantization import QuantFormat, quantize_static
    path = tmp_path / 'plain.onnx'
    quantize_static(str(fp32_onnx), str(path),
                    CalibrationImages(images(2, seed=3), (48, 48), MEAN, STD, True),
                    quant_format=QuantFormat.QDQ, op_types_to_quantize=['Conv', 'MatMul'])
    model = onnx.load(str(path))
    ops = {n.name: n.op_type for n in model.graph.node}
    readers = [ops[r] for r in dequantized_readers(model)]
    assert readers.count('MatMul') == 2  # Q @ K^T and attn @ V
    assert {'Mul', 'Reshape', 'DequantizeLinear'} <= set(readers)


@pytest.mark.parametrize('target', ['onnxruntime', 'tensorrt'])
def test_int8_runs_with_dynamic_shapes_close_to_fp32(fp32_onnx, quantized, target):
    path, _ = quantized[target]
    ref = ort.InferenceSession(str(fp32_onnx), providers=['CPUExecutionProvider'])
    q = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    assert [d for d in q.get_inputs()[0].shape] == ['batch', 3, 'height', 'width']
    test_images = images(4, seed=7)  # not the calibration images
    for shape in [(1, 3, 48, 48), (2, 3, 32, 64), (1, 3, 80, 56)]:
        x = batch(test_images, shape)
        expected = ref.run(None, {'input': x})[0]
        got = q.run(None, {'input': x})[0]
        assert got.shape == expected.shape == (shape[0], 5, shape[2] // 4, shape[3] // 4)
        rel = np.abs(got - expected).max() / np.abs(expected).max()
        assert rel <= REL_TOL, (shape, rel)
        assert rel > 0  # it is int8: not the fp32 graph again


def test_tensorrt_checks_the_scheme(quantized):
    from trtvit_dense.deploy.quantize.checks import check_onnx_precision
    from trtvit_dense.deploy.onnx.lint import lint_onnx
    trt_path, _ = quantized['tensorrt']
    counts = check_onnx_precision(trt_path, 'int8')
    assert counts['INT8'] > 0 and 'FLOAT16' not in counts
    assert [i for i in lint_onnx(trt_path) if i.severity == 'error'] == []
    ort_path, _ = quantized['onnxruntime']
    with pytest.raises(ValueError, match='not quantized the way TensorRT builds Q/DQ graphs'
                       r'.*UINT8 zero point'):
        check_onnx_precision(ort_path, 'int8')


def test_metadata_is_kept_and_failure_leaves_no_file(fp32_onnx, quantized, tmp_path,
                                                     monkeypatch):
    path, _ = quantized['onnxruntime']
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props['trtvit_dense.signature'] == '{"task": "test"}'

    def broken(*args, **kwargs):
        raise onnx.checker.ValidationError('simulated checker failure')
    monkeypatch.setattr(onnx.checker, 'check_model', broken)
    dst = tmp_path / 'q.onnx'
    with pytest.raises(ValueError, match='not a valid ONNX model: simulated'):
        quantize_int8(fp32_onnx, dst,
                      CalibrationImages(images(1, seed=4), (48, 48), MEAN, STD, True))
    assert list(tmp_path.iterdir()) == []


# -- the deploy tool --------------------------------------------------------------------
RETINA = 'configs/toy/retinanet_trtvit-a_fpn_toy.py'
UPERNET = 'configs/toy/upernet_trtvit-a_toy.py'
DET_DEPLOY = 'configs/deploy/detection_dynamic-64x64-448x448.py'
SEG_DEPLOY = 'configs/deploy/segmentation_dynamic-64x64-512x512.py'


def run_deploy(args) -> str:
    with pytest.raises(SystemExit) as e:
        deploy_tool.main(args)
    return str(e.value.code)


def write_image(path: Path, img: np.ndarray | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), images(1, seed=5)[0] if img is None else img)
    return path


@pytest.mark.parametrize('args, match', [
    (['--precision', 'int8'], '--precision int8 needs --calib-data: a folder of images or '
     r'a split of the config \(train, val, test\)'),
    (['--precision', 'int8', '--calib-data', 'MISSING'],
     "--calib-data '.*missing-folder' is no folder and not a split name"),
    (['--precision', 'int8', '--calib-data', 'trian'],
     "--calib-data 'trian' is no folder and not a split name \\(train, val, test\\)"),
    (['--precision', 'int8', '--calib-data', 'EMPTY'], '--calib-data folder .*empty holds no '
     'images'),
    (['--precision', 'int8', '--calib-data', 'FILE'], 'is a file, not a folder'),
    (['--precision', 'int8', '--calib-data', 'BAD'], '--calib-data .*bad: cannot decode '
     'image .*broken.jpg'),
    (['--precision', 'int8', '--calib-data', 'IMAGES', '--calib-num', '0'],
     '--calib-num must be an integer >= 1, got 0'),
    (['--calib-data', 'IMAGES'], '--calib-data, --calib-num and --quantizer apply to '
     '--precision int8 only'),
    (['--quantizer', 'modelopt'], '--calib-data, --calib-num and --quantizer apply to '
     '--precision int8 only'),
])
def test_bad_calibration_arguments(args, match, tmp_path):
    import re
    folders = dict(MISSING=tmp_path / 'missing-folder', EMPTY=tmp_path / 'empty',
                   FILE=write_image(tmp_path / 'one.png'), BAD=tmp_path / 'bad',
                   IMAGES=tmp_path / 'images')
    (tmp_path / 'empty').mkdir()
    write_image(tmp_path / 'bad' / 'good.png')
    (tmp_path / 'bad' / 'broken.jpg').write_bytes(b'not a jpeg')
    write_image(tmp_path / 'images' / 'a.png')
    args = [str(folders.get(a, a)) for a in args]
    msg = run_deploy([str(ROOT / RETINA), str(tmp_path / 'missing.pth'), '--deploy-cfg',
                      str(ROOT / DET_DEPLOY), '--work-dir', str(tmp_path / 'w'),
                      '--no-verify'] + args)
    assert re.search(match, msg), msg
    assert not (tmp_path / 'w').exists()


def test_calibration_from_a_split(toy_data):
    from trtvit_dense.config import load_config
    from trtvit_dense.deploy.pipeline import DeployError, calibration_image_paths
    root = toy_data / 'toy_ade/ADEChallengeData2016'
    cfg = load_config(str(ROOT / UPERNET),
                      {'train_dataloader.dataset.data_root': f'{root}/'})
    paths = calibration_image_paths(cfg, 'train', 3)
    assert len(paths) == 3 and all('images/training' in p for p in paths)
    assert paths == sorted(paths) and Path(paths[0]).name == 'ADE_train_00000001.jpg'
    assert len(calibration_image_paths(cfg, 'train', 100)) == 8  # all 8 images
    cfg.val_dataloader.dataset.data_root = str(toy_data / 'nowhere')
    with pytest.raises(DeployError, match="--calib-data val: cannot read the config's val "
                       'split .*give a folder of images'):
        calibration_image_paths(cfg, 'val', 3)


@pytest.mark.slow
def test_deploy_int8_end_to_end(toy_data, tmp_path, capsys):
    """tools/deploy.py --precision int8 on the toy UPerNet: QDQ graph next to the fp32
    one, verified at the six shapes with the int8 tolerances, manifest with the
    quantization and calibration record; the benchmark reads its precision."""
    from trtvit_dense.deploy.artifact import DeployedArtifact
    ckpt = save_checkpoint(UPERNET, tmp_path / 'model.pth')
    calib = toy_data / 'toy_ade/ADEChallengeData2016/images/training'
    work = tmp_path / 'deploy'
    deploy_tool.main([str(ROOT / UPERNET), str(ckpt), '--deploy-cfg', str(ROOT / SEG_DEPLOY),
                      '--work-dir', str(work), '--precision', 'int8', '--calib-data',
                      str(calib), '--calib-num', '4', '--images',
                      str(toy_data / 'toy_ade/ADEChallengeData2016/images/validation')])
    out = capsys.readouterr().out
    assert 'calibrated on 4 images of' in out and 'verification passed' in out
    assert out.count('| PASS |') == 6
    assert sorted(p.name for p in work.iterdir()) == ['end2end.onnx', 'end2end_int8.onnx',
                                                      'manifest.json']
    manifest = json.loads((work / 'manifest.json').read_text())
    q = manifest['export']['int8']
    assert manifest['precision'] == 'int8' and q['target'] == 'onnxruntime'
    assert q['calibration']['images'] == 4 and q['calibration']['source'] == str(calib)
    assert q['calibration']['shape'] == [1, 3, 160, 160]
    assert len(q['calibration']['files']) == 4
    assert q['excluded'] and q['float_ops']['LayerNormalization'] == 4
    assert manifest['files']['onnx_int8']['path'] == 'end2end_int8.onnx'
    assert manifest['verify_tolerances']['pixel_agree'] == INT8_TOLERANCES.pixel_agree
    assert DeployedArtifact(work).precision_of(work / 'end2end_int8.onnx') == 'int8'
    assert DeployedArtifact(work).precision_of(work / 'end2end.onnx') == 'fp32'
    model = onnx.load(str(work / 'end2end_int8.onnx'))
    assert dequantized_readers(model) == []
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ['batch', 3, 'height', 'width']


# -- the benchmark ----------------------------------------------------------------------
def test_benchmark_plans_int8_rows(tmp_path):
    from trtvit_dense.benchmark import BenchmarkError, BenchmarkOptions, ModelSpec, plan_rows
    ckpt = tmp_path / 'm.pth'
    ckpt.write_bytes(b'x')
    rows = plan_rows([ModelSpec(str(ROOT / RETINA), str(ckpt))],
                     BenchmarkOptions(backends=('pytorch', 'onnxruntime'),
                                      precisions=('fp32', 'int8'), calib_data='val'))
    assert [(r.backend, r.precision) for r in rows] == [
        ('pytorch', 'fp32'), ('onnxruntime', 'fp32'), ('onnxruntime', 'int8')]
    with pytest.raises(BenchmarkError, match='--calib-num must be >= 1, got 0'):
        plan_rows([ModelSpec(str(ROOT / RETINA))],
                  BenchmarkOptions(precisions=('int8', ), calib_num=0))


def test_benchmark_cli_passes_calibration_options():
    from tools import benchmark as benchmark_tool
    args = benchmark_tool.parse_args(['--model', RETINA, '--precisions', 'fp32', 'int8',
                                      '--calib-data', 'data/calib', '--calib-num', '8'])
    assert args.precisions == ['fp32', 'int8']
    assert (args.calib_data, args.calib_num) == ('data/calib', 8)
    assert benchmark_tool.parse_args(['--model', RETINA]).calib_data is None


def test_float_ops_cover_the_brief():
    assert 'RoiAlign' not in FLOAT_OPS  # it reads the int8 FPN features (docs)
    assert {'LayerNormalization', 'Softmax', 'TopK', 'NonMaxSuppression',
            'ArgMax', 'ReduceMean', 'Pow', 'Sqrt', 'Div'} <= set(FLOAT_OPS)
    assert int8_module.DEFAULT_CALIB_NUM == 32
