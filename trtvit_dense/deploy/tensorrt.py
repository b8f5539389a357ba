"""TensorRT: build an engine from the exported ONNX graph, and run it as a :class:`Backend`.

Written against the TensorRT 10 and 11 Python APIs (name-based I/O tensors and
``execute_async_v3``; the binding API was removed in 10). Where the two differ:

* **Network flags.** Networks are always explicit-batch since 10: ``EXPLICIT_BATCH`` is
  deprecated and ignored in 10 and gone from ``NetworkDefinitionCreationFlag`` in 11, so
  it is never passed.
* **Precision.** 10 still has the weak-typing builder flags (``BuilderFlag.FP16``,
  ``INT8``, ...) that let TensorRT pick fp16 kernels for an fp32 graph; 11 removed them
  and every network is strongly typed (``STRONGLY_TYPED`` is kept only as an ignored,
  deprecated flag). To get the same engine on both, precision lives in the ONNX graph:
  ``fp16`` builds a graph that is already fp16 (made by the fp16 conversion step) as a
  strongly typed network, ``fp32`` builds the fp32 graph as it is. The FP16 flag is never
  set; in 10 it is an error on a strongly typed network anyway. ``int8`` is explicit
  quantization: a QDQ graph made for TensorRT by the int8 step (int8 Q/DQ with zero
  points 0, float elsewhere), built strongly typed as well, which is how TensorRT
  10/11 want Q/DQ networks built (no INT8 flag, no calibrator: the scales are in the
  graph); the ops between Q/DQ pairs run in int8, the rest in the graph's fp32.
* **TF32.** ``BuilderFlag.TF32`` is on by default and lets fp32 convolutions and matmuls
  round their inputs to 10-bit mantissas on Ampere and newer. fp32 and int8 builds clear
  it where the flag exists, so an fp32 engine (and the float parts an int8 graph keeps
  float on purpose: attention, normalisations) is really fp32.

TensorRT is imported lazily through :func:`import_tensorrt`, so this module imports on
CPU-only machines and only using it there raises :class:`BackendUnavailable`.
"""
from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .backends import Backend, BackendUnavailable
from .config import DeployConfig, ShapeError, format_shape
from ..utils.atomic import atomic_write_bytes

__all__ = ['EngineBuildError', 'PRECISIONS', 'TensorRTBackend', 'build_engine',
           'check_onnx_precision', 'check_profile_shape', 'import_tensorrt',
           'trt_dtype_to_torch']

PRECISIONS = ('fp32', 'fp16', 'int8')
LOG_LEVELS = ('VERBOSE', 'INFO', 'WARNING', 'ERROR', 'INTERNAL_ERROR')  # trt.Logger.*
TENSORRT_NOT_FOUND = ("TensorRT not found: install tensorrt from NVIDIA's package index "
                      'on a CUDA machine')
NO_CUDA = 'TensorRT needs a CUDA GPU: torch.cuda.is_available() is False'

# TensorRT DataType member names -> torch dtypes. FP8, INT4, FP4 and E8M0 have no
# torch buffer type we can hand to numpy, and never appear at our engines' I/O.
_TORCH_DTYPES = {
    'FLOAT': torch.float32,
    'HALF': torch.float16,
    'BF16': torch.bfloat16,
    'INT8': torch.int8,
    'UINT8': torch.uint8,
    'INT32': torch.int32,
    'INT64': torch.int64,
    'BOOL': torch.bool,
}


class EngineBuildError(RuntimeError):
    """The ONNX graph could not be parsed or built into an engine."""


def import_tensorrt():
    """Return the ``tensorrt`` module, or raise :class:`BackendUnavailable` saying why.

    Both building and running an engine need a CUDA device, so a machine with the wheel
    but no usable GPU gets its own message instead of a CUDA error deep in TensorRT.
    """
    try:
        import tensorrt as trt
    except ImportError as e:
        raise BackendUnavailable(TENSORRT_NOT_FOUND) from e
    if not torch.cuda.is_available():
        raise BackendUnavailable(NO_CUDA)
    return trt


def check_profile_shape(shape: Sequence[int], min_shape: Sequence[int],
                        max_shape: Sequence[int], name: str = 'input',
                        source: str | None = None) -> None:
    """Raise :class:`ShapeError` naming the allowed range if ``shape`` is outside it.

    An engine only accepts shapes inside its optimization profile; TensorRT reports a
    violation as a bare ``set_input_shape`` failure, so the range is checked (and named,
    in the same words as :meth:`DeployConfig.check_shape`) before calling it.
    """
    shape = tuple(int(v) for v in shape)
    if len(shape) != len(min_shape) or any(
            not lo <= v <= hi for v, lo, hi in zip(shape, min_shape, max_shape)):
        src = f' ({source})' if source else ''
        raise ShapeError(
            f'{name!r} shape {format_shape(shape)} is outside the engine profile{src}: '
            f'each dim must lie between min {format_shape(min_shape)} and max '
            f'{format_shape(max_shape)}')


def _dtype_name(dtype: Any) -> str:
    """'FLOAT' for ``trt.DataType.FLOAT`` (pybind enums have ``.name``; str is a
    fallback that gives 'DataType.FLOAT')."""
    name = getattr(dtype, 'name', None)
    return name if isinstance(name, str) else str(dtype).rsplit('.', 1)[-1]


def trt_dtype_to_torch(name: str) -> torch.dtype:
    """The torch dtype for a TensorRT ``DataType`` name ('FLOAT', 'DataType.HALF', ...).

    Takes the *name* so the mapping is testable without TensorRT.
    """
    key = str(name).rsplit('.', 1)[-1].upper()
    if key not in _TORCH_DTYPES:
        raise TypeError(f'TensorRT dtype {name!r} has no torch equivalent here; supported: '
                        f'{", ".join(_TORCH_DTYPES)}')
    return _TORCH_DTYPES[key]


# -- ONNX precision -------------------------------------------------------------------
def _float_weight_counts(graph) -> dict[str, int]:
    """Number of float weight elements by ONNX type name ('FLOAT', 'FLOAT16', ...), over
    initializers and Constant nodes, subgraphs (If/Loop bodies) included."""
    from onnx import AttributeProto, TensorProto
    floats = (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16,
              TensorProto.DOUBLE)
    counts: dict[str, int] = {}

    def add(tensor) -> None:
        if tensor.data_type in floats:
            key = TensorProto.DataType.Name(tensor.data_type)
            counts[key] = counts.get(key, 0) + int(np.prod(tensor.dims, dtype=np.int64))

    def walk(g) -> None:
        for t in g.initializer:
            add(t)
        for node in g.node:
            for attr in node.attribute:
                if attr.type == AttributeProto.TENSOR:
                    add(attr.t)
                elif attr.type == AttributeProto.GRAPH:
                    walk(attr.g)
                elif attr.type == AttributeProto.GRAPHS:
                    for sub in attr.graphs:
                        walk(sub)

    walk(graph)
    return counts


def check_onnx_precision(onnx_path: str | Path, precision: str) -> dict[str, int]:
    """Check that the ONNX graph's weights match ``precision``; return the counts.

    A TensorRT network keeps the types the ONNX graph has (always in TensorRT 11, and
    for our strongly typed fp16 builds in 10), so the precision of an engine is decided
    when the graph is made, not when it is built:

    * ``fp16`` needs a graph whose weights are mostly float16 (a mixed-precision graph
      may keep a few ops, e.g. normalisations, in float32);
    * ``fp32`` refuses a graph with any float16/bfloat16 weights, which would otherwise
      give an engine labelled fp32 that computes partly in half precision;
    * ``int8`` needs a QDQ graph in TensorRT's scheme (``quantize_int8(...,
      target='tensorrt')``): int8 Q/DQ pairs whose zero points are all 0, no INT32
      DequantizeLinear (biases stay float), no float16 weights. The counts returned
      then include ``INT8``.
    """
    import onnx
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {PRECISIONS}, got {precision!r}')
    # Only the tensor headers are needed: external weight files are not read.
    model = onnx.load(str(onnx_path), load_external_data=False)
    counts = _float_weight_counts(model.graph)
    n32 = counts.get('FLOAT', 0) + counts.get('DOUBLE', 0)
    n16 = counts.get('FLOAT16', 0)
    nbf16 = counts.get('BFLOAT16', 0)
    if precision == 'fp16' and (n16 == 0 or n16 < n32 + nbf16):
        raise ValueError(
            f"precision='fp16' builds the ONNX graph strongly typed, as it is (TensorRT 11 "
            f'has no FP16 builder flag), so the graph must already be fp16 (mostly float16 '
            f'weights); {onnx_path} has {n16} float16, {n32} float32 and {nbf16} bfloat16 '
            'weight elements. '
            'Convert it first (trtvit_dense.deploy.fp16.convert_to_fp16), or build it with '
            "precision='fp32'")
    if precision in ('fp32', 'int8') and n16 + nbf16:
        raise ValueError(
            f"precision={precision!r} but {onnx_path} has {n16} float16 and {nbf16} "
            'bfloat16 weight elements; TensorRT keeps those types, so the engine would '
            "compute partly in half precision. Build it with precision='fp16', or export "
            'an fp32 graph')
    if precision == 'int8':
        counts['INT8'] = _check_int8_qdq(model.graph, onnx_path)
    return counts


def _check_int8_qdq(graph, onnx_path: str | Path) -> int:
    """Number of stored int8 weight elements of a QDQ graph in TensorRT's scheme; raise
    ValueError naming what breaks it (TensorRT's parser would refuse it mid-build)."""
    from onnx import TensorProto, numpy_helper
    stored = {t.name: t for t in graph.initializer}
    qdq = [n for n in graph.node if n.op_type in ('QuantizeLinear', 'DequantizeLinear')]
    if not any(n.op_type == 'QuantizeLinear' for n in qdq):
        raise ValueError(
            f"precision='int8' builds the QDQ graph's explicit quantization, but "
            f'{onnx_path} has no QuantizeLinear nodes; quantize it first '
            "(tools/deploy.py --precision int8 --backend tensorrt)")
    problems = []
    int8_weights = 0
    for node in qdq:
        zero_point = stored.get(node.input[2]) if len(node.input) > 2 else None
        if node.op_type == 'QuantizeLinear' and zero_point is None:
            problems.append(f'{node.name}: no zero point (uint8 output)')
        elif zero_point is not None and zero_point.data_type != TensorProto.INT8:
            problems.append(f'{node.name}: '
                            f'{TensorProto.DataType.Name(zero_point.data_type)} zero point')
        elif zero_point is not None and numpy_helper.to_array(zero_point).any():
            problems.append(f'{node.name}: non-zero zero point')
        data = stored.get(node.input[0])
        if node.op_type == 'DequantizeLinear' and data is not None:
            if data.data_type != TensorProto.INT8:
                problems.append(f'{node.name}: dequantizes '
                                f'{TensorProto.DataType.Name(data.data_type)}')
            else:
                int8_weights += int(np.prod(data.dims, dtype=np.int64))
    if problems:
        raise ValueError(
            f'{onnx_path} is not quantized the way TensorRT builds Q/DQ graphs (int8, '
            f'symmetric: zero points 0; {len(problems)} nodes differ, e.g. '
            f"{'; '.join(problems[:3])}); the onnxruntime int8 graph uses uint8 "
            'activations: quantize for TensorRT (tools/deploy.py --precision int8 '
            '--backend tensorrt)')
    return int8_weights


# -- build ----------------------------------------------------------------------------
def _logger(trt, log_level: str):
    return trt.Logger(getattr(trt.Logger, log_level))


def _major_version(trt) -> int:
    return int(str(trt.__version__).split('.', 1)[0])


def _tensor_info(tensor) -> dict[str, Any]:
    return dict(name=tensor.name, shape=[int(d) for d in tensor.shape],
                dtype=_dtype_name(tensor.dtype))


def _check_network_input(network, onnx_path: Path, deploy_cfg: DeployConfig) -> None:
    """One input, named as the deploy config says, whose fixed dims the profile keeps.

    A profile that varies a dim the graph fixed fails deep inside the builder with a
    message about dimensions; say which dim and which export setting instead.
    """
    names = [network.get_input(i).name for i in range(network.num_inputs)]
    if names != [deploy_cfg.input_name]:
        src = f' ({deploy_cfg.path})' if deploy_cfg.path else ''
        raise EngineBuildError(f'{onnx_path} has inputs {names}; the deploy config{src} '
                               f'expects one input named {deploy_cfg.input_name!r}')
    dims = [int(d) for d in network.get_input(0).shape]
    if len(dims) != len(deploy_cfg.min_shape):
        raise EngineBuildError(f'{onnx_path} input {deploy_cfg.input_name!r} has shape '
                               f'{dims}; the deploy profile is [B, 3, H, W]')
    for axis, dim in enumerate(dims):
        lo, hi = deploy_cfg.min_shape[axis], deploy_cfg.max_shape[axis]
        if dim >= 0 and not lo == hi == dim:
            raise EngineBuildError(
                f'{onnx_path} fixes dim {axis} of {deploy_cfg.input_name!r} to {dim} '
                f'(input shape {dims}) but the profile ({deploy_cfg.profile_text()}) gives '
                f'{lo}..{hi}; export the graph with this deploy config')


def _load_timing_cache(trt, config, path: Path | None):
    """Attach the timing cache at ``path`` (or an empty one) to ``config``.

    The cache holds measured kernel timings; reusing it makes rebuilds of the same
    layers (another variant, another precision) much faster. A cache made by another
    TensorRT version or GPU is not trusted: the build starts a new one.
    """
    blob = path.read_bytes() if path is not None and path.is_file() else b''
    cache = None
    if blob:
        try:
            cache = config.create_timing_cache(blob)
            if cache is not None and not config.set_timing_cache(cache, False):
                cache = None
        except Exception:  # noqa: BLE001 - TensorRT raises RuntimeError or others
            cache = None
        if cache is None:
            warnings.warn(f'timing cache {path} was made by another TensorRT version or '
                          'GPU; starting a new one', stacklevel=3)
    if cache is None:
        cache = config.create_timing_cache(b'')
        config.set_timing_cache(cache, False)
    return cache


def build_engine(onnx_path: str | Path, engine_path: str | Path, deploy_cfg: DeployConfig,
                 precision: str = 'fp32', timing_cache: str | Path | None = None,
                 log_level: str = 'WARNING') -> dict[str, Any]:
    """Build a serialized TensorRT engine for ``deploy_cfg``'s shape profile.

    Args:
        onnx_path: the exported graph (fp16 already for ``precision='fp16'``, the
            TensorRT QDQ graph for ``precision='int8'``).
        engine_path: where the engine goes; written under a temporary name and renamed
            when complete, so an engine file that exists is never half written.
        deploy_cfg: gives the input name, the one optimization profile (min/opt/max) and
            ``tensorrt['workspace_size']``.
        precision: 'fp32', 'fp16' or 'int8' (see the module docstring for why the graph
            decides).
        timing_cache: optional file read before and written back after the build.
        log_level: TensorRT logger severity, one of :data:`LOG_LEVELS`.

    Returns:
        A JSON-ready dict for the manifest: TensorRT version, build seconds, precision,
        profile, workspace, I/O names/shapes/dtypes (-1 marks a dynamic dim), files.
    """
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {PRECISIONS}, got {precision!r}')
    if log_level not in LOG_LEVELS:
        raise ValueError(f'log_level must be one of {LOG_LEVELS}, got {log_level!r}')
    trt = import_tensorrt()
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    cache_path = Path(timing_cache) if timing_cache is not None else None
    if not onnx_path.is_file():
        raise FileNotFoundError(f'ONNX file not found: {onnx_path}')
    check_onnx_precision(onnx_path, precision)

    start = time.perf_counter()
    logger = _logger(trt, log_level)
    # Registers TensorRT's own plugins; the ONNX parser maps RoiAlign onto ROIAlign_TRT.
    trt.init_libnvinfer_plugins(logger, '')
    builder = trt.Builder(logger)
    # STRONGLY_TYPED only where it still means something: 11 is always strongly typed
    # and only keeps the flag as a deprecated no-op.
    strongly_typed = precision in ('fp16', 'int8') or _major_version(trt) >= 11
    flags = 0
    if strongly_typed and _major_version(trt) < 11:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise EngineBuildError(f'TensorRT could not parse {onnx_path} '
                               f'({len(errors)} errors):\n' + '\n'.join(errors))
    _check_network_input(network, onnx_path, deploy_cfg)

    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    profile.set_shape(deploy_cfg.input_name, deploy_cfg.min_shape, deploy_cfg.opt_shape,
                      deploy_cfg.max_shape)
    config.add_optimization_profile(profile)
    workspace = int(deploy_cfg.tensorrt['workspace_size'])
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace)
    tf32 = getattr(trt.BuilderFlag, 'TF32', None)
    if precision in ('fp32', 'int8') and tf32 is not None:
        config.clear_flag(tf32)
    cache = _load_timing_cache(trt, config, cache_path)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineBuildError(f'TensorRT failed to build an engine from {onnx_path} for '
                               f'profile {deploy_cfg.profile_text()}; see its log above '
                               "(log_level='VERBOSE' says more)")
    atomic_write_bytes(engine_path, memoryview(serialized))
    if cache_path is not None:
        atomic_write_bytes(cache_path, memoryview(cache.serialize()))
    return dict(
        tensorrt=str(trt.__version__),
        build_seconds=round(time.perf_counter() - start, 3),
        precision=precision,
        strongly_typed=strongly_typed,
        tf32=config.get_flag(tf32) if tf32 is not None else None,
        profile=dict(min_shape=list(deploy_cfg.min_shape),
                     opt_shape=list(deploy_cfg.opt_shape),
                     max_shape=list(deploy_cfg.max_shape)),
        workspace_size=workspace,
        inputs=[_tensor_info(network.get_input(i)) for i in range(network.num_inputs)],
        outputs=[_tensor_info(network.get_output(i)) for i in range(network.num_outputs)],
        onnx=str(onnx_path),
        engine=str(engine_path),
        engine_bytes=engine_path.stat().st_size,
        timing_cache=str(cache_path) if cache_path is not None else None,
    )


# -- run ------------------------------------------------------------------------------
class TensorRTBackend(Backend):
    """A serialized engine run on the current CUDA device and stream.

    Buffers are torch CUDA tensors (no pycuda/cuda-python dependency): the input is
    copied from the float32 host array (and cast if the engine's input is fp16), outputs
    are allocated per call at the shapes the context reports for this input shape, and
    everything runs on ``torch.cuda.current_stream()``. Half-precision outputs are
    returned as float32, as the :mod:`~trtvit_dense.deploy.backends` interface promises.
    """

    name = 'tensorrt'

    def __init__(self, engine_path: str | Path, log_level: str = 'WARNING'):
        if log_level not in LOG_LEVELS:
            raise ValueError(f'log_level must be one of {LOG_LEVELS}, got {log_level!r}')
        trt = import_tensorrt()
        self.path = Path(engine_path)
        if not self.path.is_file():
            raise FileNotFoundError(f'TensorRT engine not found: {self.path}')
        logger = _logger(trt, log_level)
        # Plugins must be registered before deserializing an engine that uses them.
        trt.init_libnvinfer_plugins(logger, '')
        # The runtime must outlive the engine it deserialized: keep a reference.
        self._runtime = trt.Runtime(logger)
        # an engine carrying its own host code (a lean runtime) would run it: refuse it
        self._runtime.engine_host_code_allowed = False
        self.engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise RuntimeError(
                f'could not deserialize {self.path}: engines only load in the TensorRT '
                f'version and on the GPU model they were built for (this is TensorRT '
                f'{trt.__version__} on {torch.cuda.get_device_name()})')
        self.context = self.engine.create_execution_context()
        self.trt_version = str(trt.__version__)

        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        modes = {n: self.engine.get_tensor_mode(n) for n in names}
        inputs = [n for n in names if modes[n] == trt.TensorIOMode.INPUT]
        if len(inputs) != 1:
            raise ValueError(f'{self.path} has inputs {inputs}; expected one image input')
        self.input_name = inputs[0]
        self.output_names = tuple(n for n in names if modes[n] == trt.TensorIOMode.OUTPUT)
        self.dtypes = {n: trt_dtype_to_torch(_dtype_name(self.engine.get_tensor_dtype(n)))
                       for n in names}
        self.min_shape, self.opt_shape, self.max_shape = self._profile_range()

    def _profile_range(self) -> tuple[tuple[int, ...], ...]:
        """(min, opt, max) of the input in profile 0; an engine built without a profile
        (all dims static) accepts exactly its one shape."""
        try:
            shapes = self.engine.get_tensor_profile_shape(self.input_name, 0)
        except Exception:  # noqa: BLE001 - no profile: TensorRT raises or returns []
            shapes = []
        if len(shapes) != 3:
            static = tuple(int(d) for d in self.engine.get_tensor_shape(self.input_name))
            return static, static, static
        return tuple(tuple(int(d) for d in s) for s in shapes)

    @torch.no_grad()
    def __call__(self, x) -> dict[str, np.ndarray]:
        return self._execute(x)[0]

    def compute_seconds(self, x) -> float:
        """GPU time of the engine alone (CUDA events around ``execute_async_v3``, no
        host<->device copies), as trtexec's "GPU Compute Time"."""
        return self._execute(x, timed=True)[1]

    @torch.no_grad()
    def _execute(self, x, timed: bool = False) -> tuple[dict[str, np.ndarray], float | None]:
        x = self._as_input(x)
        check_profile_shape(x.shape, self.min_shape, self.max_shape, self.input_name,
                            source=str(self.path))
        inp = torch.from_numpy(x).to('cuda').to(self.dtypes[self.input_name]).contiguous()
        if not self.context.set_input_shape(self.input_name, tuple(inp.shape)):
            raise ShapeError(f'TensorRT refused input shape {format_shape(inp.shape)} for '
                             f'{self.input_name!r} ({self.path})')
        self.context.set_tensor_address(self.input_name, inp.data_ptr())
        outputs = {}
        for name in self.output_names:
            shape = tuple(int(d) for d in self.context.get_tensor_shape(name))
            if any(d < 0 for d in shape):
                raise RuntimeError(f'output {name!r} of {self.path} has a data-dependent '
                                   f'shape {shape}; fixed-size outputs only')
            outputs[name] = torch.empty(shape, dtype=self.dtypes[name], device='cuda')
            self.context.set_tensor_address(name, outputs[name].data_ptr())
        stream = torch.cuda.current_stream()
        if timed:
            start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
            start.record(stream)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError(f'TensorRT failed to run {self.path} on input shape '
                               f'{format_shape(inp.shape)}')
        if timed:
            end.record(stream)
        stream.synchronize()
        seconds = start.elapsed_time(end) / 1e3 if timed else None
        result = {}
        for name, out in outputs.items():
            if out.dtype in (torch.float16, torch.bfloat16):
                out = out.float()
            result[name] = out.cpu().numpy()
        return result, seconds
