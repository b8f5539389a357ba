"""TensorRT path: the pure-Python parts everywhere, a real engine where TensorRT and a GPU
are present."""
import importlib.util
import sys
import types

import numpy as np
import onnx
import pytest
import torch
import torch.nn as nn
from onnx import TensorProto, helper, numpy_helper

from trtvit_dense.deploy import BackendUnavailable, DeployConfig, ShapeError
from trtvit_dense.deploy.backends.tensorrt import (NO_CUDA, TENSORRT_NOT_FOUND, TensorRTBackend,
                                                   build_engine, check_profile_shape,
                                                   import_tensorrt, tensorrt_not_found,
                                                   tensorrt_package, trt_dtype_to_torch)
from trtvit_dense.deploy.quantize.checks import check_onnx_precision

HAS_TENSORRT = importlib.util.find_spec('tensorrt') is not None
HAS_CUDA = torch.cuda.is_available()

MIN, MAX = (1, 3, 32, 32), (2, 3, 96, 128)
# torch 2.9+ warns that the TorchScript exporter (dynamo=False) is legacy; the deploy
# export uses it on purpose, so the warning is expected here.
legacy_export = pytest.mark.filterwarnings(
    'ignore:You are using the legacy TorchScript-based ONNX export:DeprecationWarning',
    'ignore:The feature will be removed:DeprecationWarning')


def deploy_config(**kwargs) -> DeployConfig:
    shapes = dict(min_shape=MIN, opt_shape=(1, 3, 64, 64), max_shape=MAX)
    return DeployConfig(task='segmentation', **{**shapes, **kwargs})


@pytest.fixture
def no_tensorrt(monkeypatch):
    """Make ``import tensorrt`` fail even where it is installed."""
    monkeypatch.setitem(sys.modules, 'tensorrt', None)


# -- availability ---------------------------------------------------------------------
def test_import_tensorrt_missing(no_tensorrt):
    with pytest.raises(BackendUnavailable) as err:
        import_tensorrt()
    assert str(err.value) == tensorrt_not_found()
    assert str(err.value).startswith(TENSORRT_NOT_FOUND)


@pytest.mark.parametrize('cuda, package, says', [
    ('12.8', 'tensorrt-cu12', "TensorRT not found: pip install 'trtvit_dense[tensorrt-cu12]' "
     "(tensorrt-cu12 10.0.1 to 11.4.0.106, the build for this torch's CUDA 12.8)"),
    ('13.0', 'tensorrt-cu13', "pip install 'trtvit_dense[tensorrt-cu13]'"),
    (None, None, "TensorRT not found, and this torch is a CPU build: TensorRT runs on a CUDA "
     "machine with a CUDA 12 or 13 build of torch; there, pip install "
     "'trtvit_dense[tensorrt-cu12]' (CUDA 12) or 'trtvit_dense[tensorrt-cu13]' (CUDA 13)"),
    ('11.8', None, 'no TensorRT package is built for CUDA 11.8'),
])
def test_missing_tensorrt_names_the_package_for_this_torch(cuda, package, says, no_tensorrt,
                                                           monkeypatch):
    monkeypatch.setattr(torch.version, 'cuda', cuda)
    assert tensorrt_package() == package
    with pytest.raises(BackendUnavailable) as err:
        import_tensorrt()
    assert says in str(err.value)


def test_setup_py_extras_install_the_supported_range():
    from pathlib import Path

    from trtvit_dense.deploy.backends.tensorrt import PACKAGES, SUPPORTED_VERSIONS
    setup = (Path(__file__).parents[2] / 'setup.py').read_text()
    assert 'backends/tensorrt/common.py' in setup  # the versions are read from there
    for package in PACKAGES.values():
        assert f"'{package}'" in setup
    assert SUPPORTED_VERSIONS == ('10.0.1', '11.4.0.106')


def test_import_tensorrt_without_cuda(monkeypatch):
    monkeypatch.setitem(sys.modules, 'tensorrt', types.ModuleType('tensorrt'))
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(BackendUnavailable, match='needs a CUDA GPU') as err:
        import_tensorrt()
    assert str(err.value) == NO_CUDA


def test_backend_unavailable(no_tensorrt):
    with pytest.raises(BackendUnavailable) as err:
        TensorRTBackend('x.engine')
    assert str(err.value) == tensorrt_not_found()


def test_build_engine_unavailable(no_tensorrt, tmp_path):
    onnx_path = tmp_path / 'model.onnx'
    onnx.save(tiny_graph(), str(onnx_path))
    engine_path = tmp_path / 'model.engine'
    with pytest.raises(BackendUnavailable) as err:
        build_engine(onnx_path, engine_path, deploy_config())
    assert str(err.value) == tensorrt_not_found()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['model.onnx']


@pytest.mark.parametrize('kwargs, match', [
    (dict(precision='fp8'), "precision must be one of .*'fp8'"),
    (dict(log_level='LOUD'), "log_level must be one of .*'LOUD'"),
])
def test_build_engine_bad_arguments(tmp_path, kwargs, match):
    # Checked before TensorRT is imported, so the message is the same on every machine.
    with pytest.raises(ValueError, match=match):
        build_engine(tmp_path / 'm.onnx', tmp_path / 'm.engine', deploy_config(), **kwargs)


# -- profile shapes -------------------------------------------------------------------
@pytest.mark.parametrize('shape', [MIN, MAX, (1, 3, 32, 128), (2, 3, 96, 32),
                                   (2, 3, 50, 77)])
def test_check_profile_shape_accepts(shape):
    check_profile_shape(shape, MIN, MAX, 'input')


@pytest.mark.parametrize('shape', [
    (3, 3, 64, 64),    # batch above max
    (1, 4, 64, 64),    # channels above max
    (1, 3, 31, 64),    # height below min
    (1, 3, 97, 64),    # height above max
    (1, 3, 64, 31),    # width below min
    (1, 3, 64, 129),   # width above max
    (1, 3, 64),        # wrong rank
])
def test_check_profile_shape_rejects(shape):
    text = 'x'.join(map(str, shape))
    with pytest.raises(ShapeError) as err:
        check_profile_shape(shape, MIN, MAX, 'input', source='m.engine')
    assert str(err.value) == (
        f"'input' shape {text} is outside the engine profile (m.engine): each dim must "
        'lie between min 1x3x32x32 and max 2x3x96x128')


# -- dtypes ---------------------------------------------------------------------------
@pytest.mark.parametrize('name, dtype', [
    ('FLOAT', torch.float32), ('HALF', torch.float16), ('BF16', torch.bfloat16),
    ('INT8', torch.int8), ('UINT8', torch.uint8), ('INT32', torch.int32),
    ('INT64', torch.int64), ('BOOL', torch.bool), ('DataType.HALF', torch.float16),
])
def test_trt_dtype_to_torch(name, dtype):
    assert trt_dtype_to_torch(name) is dtype


@pytest.mark.parametrize('name', ['FP8', 'INT4', 'FP4', 'DOUBLE'])
def test_trt_dtype_to_torch_unsupported(name):
    with pytest.raises(TypeError, match=f"TensorRT dtype '{name}' has no torch"):
        trt_dtype_to_torch(name)


# -- ONNX precision -------------------------------------------------------------------
def tiny_graph(dtype=TensorProto.FLOAT) -> onnx.ModelProto:
    """Conv with float weights of ``dtype`` (structure only; never run)."""
    np_dtype = helper.tensor_dtype_to_np_dtype(dtype)
    weight = numpy_helper.from_array(np.zeros((4, 3, 3, 3), np_dtype), 'weight')
    bias = numpy_helper.from_array(np.zeros(4, np_dtype), 'bias')
    graph = helper.make_graph(
        [helper.make_node('Conv', ['input', 'weight', 'bias'], ['out'], pads=[1] * 4)],
        'tiny', [helper.make_tensor_value_info('input', dtype, ['b', 3, 'h', 'w'])],
        [helper.make_tensor_value_info('out', dtype, ['b', 4, 'h', 'w'])],
        initializer=[weight, bias])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])


@pytest.mark.parametrize('dtype, precision', [(TensorProto.FLOAT, 'fp32'),
                                              (TensorProto.FLOAT16, 'fp16')])
def test_check_onnx_precision_accepts(tmp_path, dtype, precision):
    path = tmp_path / 'm.onnx'
    onnx.save(tiny_graph(dtype), str(path))
    counts = check_onnx_precision(path, precision)
    assert counts == {TensorProto.DataType.Name(dtype): 4 * 3 * 3 * 3 + 4}


@pytest.mark.parametrize('dtype, precision, match', [
    (TensorProto.FLOAT, 'fp16', r"precision='fp16' .* must already be fp16 \(mostly "
                                r'float16 weights\); .* has 0 float16, 112 float32'),
    (TensorProto.FLOAT16, 'fp32', "precision='fp32' but .* has 112 float16"),
    (TensorProto.BFLOAT16, 'fp32', "precision='fp32' but .* 112 bfloat16"),
])
def test_check_onnx_precision_rejects(tmp_path, dtype, precision, match):
    path = tmp_path / 'm.onnx'
    onnx.save(tiny_graph(dtype), str(path))
    with pytest.raises(ValueError, match=match):
        check_onnx_precision(path, precision)


def test_check_onnx_precision_counts_constants(tmp_path):
    # Weights folded into Constant nodes count too, not only initializers.
    model = tiny_graph(TensorProto.FLOAT16)
    const = helper.make_node('Constant', [], ['scale'], value=numpy_helper.from_array(
        np.ones(1000, np.float32), 'scale'))
    model.graph.node.insert(0, const)
    path = tmp_path / 'm.onnx'
    onnx.save(model, str(path))
    with pytest.raises(ValueError, match='has 112 float16, 1000 float32'):
        check_onnx_precision(path, 'fp16')


# -- a real engine --------------------------------------------------------------------
class ConvLayerNorm(nn.Module):
    """Conv + channel LayerNorm (the LayerNormalization op TRT-ViT's blocks export to)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.norm = nn.LayerNorm(16)

    def forward(self, x):
        y = self.conv(x)
        y = self.norm(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return y, y.mean(dim=(2, 3))


def export_conv_layernorm(path) -> None:
    torch.manual_seed(0)
    model = ConvLayerNorm().eval()
    torch.onnx.export(
        model, (torch.randn(*MIN),), str(path), dynamo=False, opset_version=17,
        input_names=['input'], output_names=['feat', 'pooled'],
        dynamic_axes={'input': {0: 'batch', 2: 'height', 3: 'width'},
                      'feat': {0: 'batch', 2: 'feat_h', 3: 'feat_w'},
                      'pooled': {0: 'batch'}})


@legacy_export
def test_export_conv_layernorm(tmp_path):
    # The graph the GPU test builds: dynamic input, one LayerNormalization node, fp32.
    path = tmp_path / 'm.onnx'
    export_conv_layernorm(path)
    model = onnx.load(str(path))
    assert 'LayerNormalization' in {n.op_type for n in model.graph.node}
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ['batch', 3, 'height', 'width']
    assert set(check_onnx_precision(path, 'fp32')) == {'FLOAT'}


@pytest.mark.slow
@legacy_export
@pytest.mark.skipif(not (HAS_TENSORRT and HAS_CUDA),
                    reason='no TensorRT or no CUDA GPU: cannot build an engine here')
def test_engine_matches_onnxruntime(tmp_path, recwarn):
    from trtvit_dense.deploy import ORTBackend
    onnx_path, engine_path = tmp_path / 'm.onnx', tmp_path / 'm.engine'
    cache_path = tmp_path / 'timing.cache'
    export_conv_layernorm(onnx_path)
    cfg = deploy_config()
    info = build_engine(onnx_path, engine_path, cfg, timing_cache=cache_path)
    assert engine_path.is_file() and cache_path.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['m.engine', 'm.onnx',
                                                          'timing.cache']
    assert info['precision'] == 'fp32' and info['tf32'] in (False, None)
    assert [t['name'] for t in info['inputs']] == ['input']
    assert info['inputs'][0]['shape'] == [-1, 3, -1, -1]
    assert [t['name'] for t in info['outputs']] == ['feat', 'pooled']
    assert info['profile']['max_shape'] == list(MAX)

    # The saved timing cache is accepted by the next build (no mismatch warning).
    info2 = build_engine(onnx_path, tmp_path / 'm2.engine', cfg, timing_cache=cache_path)
    assert info2['engine_bytes'] > 0
    assert not [w for w in recwarn if 'timing cache' in str(w.message)]

    trt_backend, ort_backend = TensorRTBackend(engine_path), ORTBackend(onnx_path)
    assert trt_backend.output_names == ('feat', 'pooled')
    assert (trt_backend.min_shape, trt_backend.max_shape) == (MIN, MAX)
    rng = np.random.default_rng(0)
    for shape in [(1, 3, 32, 48), (2, 3, 96, 128)]:
        x = rng.standard_normal(shape, dtype=np.float32)
        got, want = trt_backend(x), ort_backend(x)
        assert list(got) == ['feat', 'pooled']
        for name in want:
            assert got[name].dtype == want[name].dtype
            assert got[name].shape == want[name].shape
            np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-4)
    with pytest.raises(ShapeError, match='between min 1x3x32x32 and max 2x3x96x128'):
        trt_backend(np.zeros((1, 3, 16, 16), np.float32))
