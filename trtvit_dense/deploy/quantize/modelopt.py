"""Int8 Q/DQ placed by NVIDIA TensorRT Model Optimizer (``nvidia-modelopt``).

:func:`quantize_modelopt` runs ModelOpt's ONNX post-training quantization
(``modelopt.onnx.quantization.quantize``, ``quantize_mode='int8'``) on the float32
``end2end.onnx``, calibrated on the same :class:`~.int8.CalibrationImages` as the ONNX
Runtime quantizer (:mod:`.int8`). Where the two differ is the placement:

* ModelOpt follows TensorRT's fusion rules: it finds the partitions TensorRT fuses
  into one int8 kernel (Conv + BatchNorm + activation + residual Add, Gemm/MatMul +
  bias) and puts a Q/DQ pair on their *inputs* only, never on the output of a fused
  kernel, so TensorRT has no reformat layer between int8 and float kernels (the cause
  of int8 engines slower than fp16 in TensorRT issue #3197). It also quantizes the
  inputs of pooling, residual Add and Mul where TensorRT runs them in int8, leaves
  LayerNorm and the attention softmax float, and skips MatMuls TensorRT cannot run
  fast in int8 (a dimension of 1, or K/N below 16).
* ONNX Runtime's quantizer (:mod:`.int8`) quantizes outputs as well (its CPU kernels
  are ``DQ -> Conv -> Q``) and has this project's float-path rules on top.

The float part of the graph (what is not between Q/DQ pairs) is the target backend's:

* ``target='tensorrt'``: float16, ModelOpt's default for TensorRT (TensorRT 11 builds
  every network strongly typed, so a float32 remainder would run in float32, where an
  fp16 engine runs fp16), with the op types of :data:`~.fp16.FP32_OPS` kept float32 as
  in this project's fp16 graph (normalisations, softmax, reductions, the box
  post-processing); inputs and outputs stay float32.
* ``target='onnxruntime'``: float32 (ONNX Runtime's CPU provider computes float16 ops
  in float32 behind casts).

Activations and weights are int8 symmetric (zero point 0, what TensorRT takes), weights
per output channel, biases float. Calibration: 'minmax' is ModelOpt's 'max', 'entropy'
its 'entropy'; 'percentile' is ONNX Runtime's only. It runs on ONNX Runtime's CPU
provider here (``calibration_eps=['cpu']``).

ModelOpt is an optional dependency (``pip install -e .[modelopt]``,
:data:`REQUIREMENT`); :func:`check_modelopt` says how to get it when it is missing.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Sequence, Union

import onnx

from ...utils.atomic import atomic_path
from .fp16 import FP32_OPS, load_onnx
from ..onnx.graph import name_nodes
from .int8 import (POST_PROCESSING_OPS, drop_default_reductions, float_path_nodes,
                   graph_stats, keep_source_metadata, validate_quantized)

__all__ = ['REQUIREMENT', 'FLOAT_PRECISIONS', 'CALIBRATION_METHODS', 'check_modelopt',
           'modelopt_version', 'quantize_modelopt']

PathLike = Union[str, os.PathLike]

#: the pinned release (setup.py's ``modelopt`` extra installs it and what its ONNX
#: quantization imports, without the extra's onnx/onnxruntime-gpu pins: docs/quantization.md)
REQUIREMENT = 'nvidia-modelopt==0.47.0'
#: the float part of the graph per target backend (module docstring)
FLOAT_PRECISIONS = {'tensorrt': 'fp16', 'onnxruntime': 'fp32'}
#: this project's calibration names -> ModelOpt's
CALIBRATION_METHODS = {'minmax': 'max', 'entropy': 'entropy'}


def modelopt_version() -> str | None:
    """The installed ModelOpt's version, None when it is not installed (or its ONNX
    quantization cannot import)."""
    try:
        import modelopt
        import modelopt.onnx.quantization  # noqa: F401  (its optional imports)
    except ImportError:
        return None
    return str(modelopt.__version__)


def check_modelopt() -> str:
    """The installed ModelOpt's version; ImportError with the install line when ModelOpt
    or a package its ONNX quantization imports is missing."""
    try:
        import modelopt
        import modelopt.onnx.quantization  # noqa: F401
    except ImportError as e:
        raise ImportError(
            f"the 'modelopt' quantizer needs NVIDIA Model Optimizer ({REQUIREMENT}): "
            f"pip install -e '.[modelopt]' ({e}); or use --quantizer onnxruntime") from None
    return str(modelopt.__version__)


class _NoGpuProbe(logging.Filter):
    """Drops two ModelOpt messages that say nothing to a user: 'Failed to get GPU count:
    NVML ...' (it probes for GPUs even when it calibrates on the CPU provider) and
    'Expected bias ... to be an initializer' (a conv whose bias is computed, as the
    deploy form's folded norms leave some; it quantizes the conv all the same)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ('Failed to get GPU count' in message
                    or message.startswith('Expected bias '))


@contextlib.contextmanager
def _ort_quantization_restored():
    """ModelOpt monkeypatches ``onnxruntime.quantization`` for its own use (calibrators,
    quantizer hooks: ``ort_patching.patch_ort_modules``) and leaves it patched, which
    breaks ONNX Runtime's quantizer later in the same process ("Quantization parameters
    are not specified for param input"). Snapshot the module and class attributes of
    the modules it patches and put them back afterwards."""
    import importlib
    import inspect
    names = ('onnxruntime.quantization.calibrate', 'onnxruntime.quantization.base_quantizer',
             'onnxruntime.quantization.qdq_quantizer', 'onnxruntime.quantization.quantize')
    modules = [importlib.import_module(n) for n in names]
    saved = []
    for module in modules:
        saved.append((module, dict(vars(module))))
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__:
                saved.append((cls, dict(vars(cls))))
    try:
        yield
    finally:
        for owner, attrs in saved:
            for key in set(vars(owner)) - set(attrs):  # added, e.g. an override of a
                delattr(owner, key)                     # base class's method
            for key, value in attrs.items():
                if key not in ('__dict__', '__weakref__', '__doc__') \
                        and vars(owner).get(key, _MISSING) is not value:
                    setattr(owner, key, value)


_MISSING = object()


@contextlib.contextmanager
def _quiet_modelopt():
    """ModelOpt configures its logger at the level it is given and writes a line per
    step; keep its errors (minus the GPU probe), and restore the root logger it may
    touch."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    probe = _NoGpuProbe()
    loggers = [logging.getLogger(name) for name in ('modelopt', 'modelopt.onnx')] + [root]
    for logger in loggers:
        logger.addFilter(probe)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(probe)
        root.setLevel(level)
        root.handlers[:] = handlers


def quantize_modelopt(src: PathLike, dst: PathLike, calibration,
                      target: str = 'tensorrt', calibrate_method: str = 'minmax',
                      nodes_to_exclude: Sequence[str] = (),
                      op_types_to_exclude: Sequence[str] = (),
                      keep_fp32_ops: Iterable[str] = FP32_OPS,
                      quantize_attention: bool = False) -> dict[str, Any]:
    """Quantize the float32 ONNX model ``src`` into the QDQ model ``dst`` with ModelOpt.

    Args:
        src: the exported float32 graph (``end2end.onnx``).
        dst: output path, written under a temporary name once the result passes
            ``onnx.checker`` (a failure leaves no ``dst``).
        calibration: a calibration data reader with ``get_next``, ``get_first`` and
            ``rewind`` (:class:`~.int8.CalibrationImages`).
        target: 'tensorrt' or 'onnxruntime': the float part's precision
            (:data:`FLOAT_PRECISIONS`).
        calibrate_method: 'minmax' or 'entropy' (:data:`CALIBRATION_METHODS`).
        nodes_to_exclude, op_types_to_exclude: left float (ModelOpt's arguments).
        keep_fp32_ops: with a float16 remainder, the op types kept float32.
        quantize_attention: let ModelOpt quantize the attention's two activation
            MatMuls (Q @ K^T, attn @ V) too; off by default (``disable_mha_qdq``):
            docs/quantization.md has the accuracy it costs.

    Returns:
        JSON-ready stats for the manifest, the keys of :mod:`.int8`'s plus ``quantizer``,
        ``modelopt`` (its version) and ``float_precision``.

    Raises:
        ImportError: ModelOpt is not installed (the message says how to install it).
        ValueError: a bad argument, or a result that is not a valid ONNX model.
    """
    from .int8 import TARGETS
    if target not in TARGETS:
        raise ValueError(f'target must be one of {TARGETS}, got {target!r}')
    if calibrate_method not in CALIBRATION_METHODS:
        raise ValueError(f"the 'modelopt' quantizer calibrates with "
                         f'{" or ".join(CALIBRATION_METHODS)}, got {calibrate_method!r}')
    version = check_modelopt()
    from modelopt.onnx.quantization import quantize
    start = time.perf_counter()
    src, dst = Path(src), Path(dst)
    source = load_onnx(src)
    float_precision = FLOAT_PRECISIONS[target]
    name_nodes(source.graph)  # ModelOpt excludes nodes by name
    # the post-processing stays float, as with ONNX Runtime's quantizer: ModelOpt would
    # quantize the inputs of the box decoding's Sub/Mul and of TopK, and rounded scores
    # tie (RetinaNet at 800x1344 with random weights: 0 of 100 boxes kept)
    post = float_path_nodes(source, POST_PROCESSING_OPS)
    with tempfile.TemporaryDirectory(prefix='trtvit-modelopt-') as tmp:
        # ModelOpt writes its intermediate files beside the input: a private copy
        work, out = Path(tmp, 'model.onnx'), Path(tmp, 'int8.onnx')
        onnx.save(source, str(work))
        totals = _op_totals(source)
        with _quiet_modelopt(), _ort_quantization_restored():
            quantize(str(work), quantize_mode='int8', calibration_data_reader=calibration,
                     calibration_method=CALIBRATION_METHODS[calibrate_method],
                     calibration_eps=['cpu'],
                     nodes_to_exclude=[re.escape(n) + '$' for n in (*nodes_to_exclude, *post)],
                     op_types_to_exclude=list(op_types_to_exclude),
                     op_types_to_exclude_fp16=sorted(set(keep_fp32_ops)),
                     high_precision_dtype=float_precision, output_path=str(out),
                     disable_mha_qdq=not quantize_attention, log_level='ERROR')
        if not out.is_file():
            raise ValueError(f'ModelOpt wrote no quantized graph for {str(src)!r}')
        model = onnx.load(str(out))
    defaults_dropped = drop_default_reductions(model)
    keep_source_metadata(model, source)
    validate_quantized(model, src)
    stats = dict(
        quantizer='modelopt', modelopt=version, target=target,
        calibrate_method=calibrate_method, per_channel=True,
        float_precision=float_precision,
        activations='int8 symmetric (zero point 0)',
        weights='int8 symmetric per output channel',
        **graph_stats(model, totals),
        excluded={**{name: 'post-processing (scores, boxes, labels)' for name in post},
                  **{name: 'excluded by the caller' for name in nodes_to_exclude}},
        attention_int8=quantize_attention,
        float_op_types=sorted(set(keep_fp32_ops)) if float_precision == 'fp16' else [],
        default_reductions_dropped=defaults_dropped,
        seconds=round(time.perf_counter() - start, 3))
    with atomic_path(dst) as tmp_path:
        onnx.save(model, str(tmp_path))
    return stats


def _op_totals(model: onnx.ModelProto) -> dict[str, int]:
    from collections import Counter

    from .int8 import QUANTIZED_OPS
    return dict(Counter(n.op_type for n in model.graph.node if n.op_type in QUANTIZED_OPS))
