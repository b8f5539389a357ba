"""The fp16 accuracy harness of ``tools/analysis/fp16_accuracy.py``: run an ONNX graph
node by node in the dtypes it declares, and compare an fp16 graph with its fp32 source.

ONNX Runtime's CPU provider computes most fp16 ops in float32 (``docs/quantization.md``
says which), so :func:`fp16_report` defaults to ``runtime='reference'``:
``onnx.reference.ReferenceEvaluator`` with the GEMM-like kernels replaced by PyTorch ones
that compute in float32 on fp16 operands and round to fp16, like tensor-core kernels.
"""
from __future__ import annotations

import os
from typing import Any, Mapping, Sequence, Union

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import helper
from onnx.reference import ReferenceEvaluator
from onnx.reference.op_run import OpRun
from onnx.reference.ops.op_resize import Resize as _ReferenceResize

from trtvit_dense.deploy.quantize.fp16 import load_onnx

__all__ = ['RUNTIMES', 'fp16_report', 'run_onnx']

RUNTIMES = ('reference', 'onnxruntime')

PathLike = Union[str, os.PathLike]


def run_onnx(path: PathLike,
             inputs: Union[np.ndarray, Mapping[str, np.ndarray]],
             runtime: str = 'onnxruntime') -> dict[str, np.ndarray]:
    """Run an ONNX model on CPU and return ``{output name: array}``.

    ``runtime='onnxruntime'`` uses ORT's CPU provider (which computes fp16 arithmetic in
    float32, see the module docstring); ``'reference'`` executes every node in the
    dtype the graph declares. Inputs are cast to the graph's declared input types.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f'runtime must be one of {RUNTIMES}, got {runtime!r}')
    model = load_onnx(path)
    feeds = _as_feeds(model, inputs)
    names = [o.name for o in model.graph.output]
    if runtime == 'onnxruntime':
        import onnxruntime as ort
        session = ort.InferenceSession(
            model.SerializeToString(), providers=['CPUExecutionProvider'])
        outputs = session.run(names, feeds)
    else:
        outputs = ReferenceEvaluator(model, new_ops=_FAST_REFERENCE_OPS).run(names, feeds)
    return dict(zip(names, outputs))


def fp16_report(fp32_path: PathLike,
                fp16_path: PathLike,
                inputs: Union[np.ndarray, Mapping[str, np.ndarray]],
                runtime: str = 'reference') -> dict[str, dict[str, float]]:
    """Per-output error of the fp16 graph against the fp32 graph on ``inputs``.

    The fp32 graph runs in ONNX Runtime; the fp16 graph in ``runtime`` (see
    :func:`run_onnx`; the default ``'reference'`` really computes in fp16 where the
    graph says so, ORT on CPU mostly does not). Float outputs get ``max_abs`` (max
    absolute error), ``mean_abs``, ``scale`` (max ``|fp32 output|``), ``rel``
    (``max_abs / scale``), ``rel_mean`` (``mean_abs / mean |fp32 output|``, which a few
    outlier channels cannot hide the way they inflate ``scale``) and ``nonfinite``
    (count of inf/nan in the fp16 output, whose errors are left out of the others);
    integer outputs get ``mismatch`` (fraction of differing elements).
    """
    reference = run_onnx(fp32_path, inputs, 'onnxruntime')
    candidate = run_onnx(fp16_path, inputs, runtime)
    if set(reference) != set(candidate):
        raise ValueError(f'the graphs have different outputs: {sorted(reference)} vs '
                         f'{sorted(candidate)}')
    report = {}
    for name, ref in reference.items():
        out = candidate[name]
        if ref.shape != out.shape:
            raise ValueError(f'output {name!r} has shape {list(out.shape)} in fp16 and '
                             f'{list(ref.shape)} in fp32')
        if not np.issubdtype(ref.dtype, np.floating):
            report[name] = dict(mismatch=float(np.mean(ref != out)) if ref.size else 0.)
            continue
        ref = ref.astype(np.float64)
        out = out.astype(np.float64)
        finite = np.isfinite(out)
        err = np.abs(out - ref)[finite]
        scale = float(np.abs(ref).max()) if ref.size else 0.
        mean_scale = float(np.abs(ref).mean()) if ref.size else 0.
        max_abs = float(err.max()) if err.size else 0.
        mean_abs = float(err.mean()) if err.size else 0.
        report[name] = dict(
            max_abs=max_abs,
            mean_abs=mean_abs,
            scale=scale,
            rel=max_abs / scale if scale > 0 else max_abs,
            rel_mean=mean_abs / mean_scale if mean_scale > 0 else mean_abs,
            nonfinite=int(out.size - finite.sum()))
    return report


def _as_feeds(model: onnx.ModelProto,
              inputs: Union[np.ndarray, Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    initializers = {t.name for t in model.graph.initializer}
    graph_inputs = [i for i in model.graph.input if i.name not in initializers]
    if not isinstance(inputs, Mapping):
        if len(graph_inputs) != 1:
            raise ValueError(f'the model has inputs {[i.name for i in graph_inputs]}; '
                             f'pass a dict of arrays')
        inputs = {graph_inputs[0].name: inputs}
    feeds = {}
    for value in graph_inputs:
        if value.name not in inputs:
            raise ValueError(f'missing input {value.name!r}; got {sorted(inputs)}')
        dtype = helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type)
        feeds[value.name] = np.ascontiguousarray(inputs[value.name], dtype=dtype)
    return feeds


# Reference-evaluator kernels replaced by PyTorch (or numpy): numpy has no fast fp16
# GEMM, and the reference Conv/MaxPool/Erf/Resize are Python loops. GEMM-like ops compute
# in float32 on the (fp16) operands and round to the operand dtype, like fp16 tensor-core
# kernels.


def _torch(x: np.ndarray) -> torch.Tensor:
    # A copy: the evaluator's initializer arrays are read-only.
    return torch.from_numpy(np.array(x, dtype=np.float32))


def _onnx_pads(pads: Sequence[int] | None, ndim: int, fill: float,
               x: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
    """Apply ONNX ``[b1, .., bn, e1, .., en]`` pads: symmetric ones are returned for
    the torch op, asymmetric ones are applied to ``x`` with ``fill``."""
    pads = list(pads) if pads is not None else [0] * 2 * ndim
    begin, end = pads[:ndim], pads[ndim:]
    if begin == end:
        return x, begin
    torch_pads = [p for b, e in zip(reversed(begin), reversed(end)) for p in (b, e)]
    return F.pad(x, torch_pads, value=fill), [0] * ndim


def _check_auto_pad(auto_pad: Any) -> None:
    if auto_pad not in (None, 'NOTSET', b'NOTSET', 'VALID', b'VALID'):
        raise NotImplementedError(f'auto_pad={auto_pad!r} is not supported; export with '
                                  f'explicit pads')


class Conv(OpRun):
    op_domain = ''

    def _run(self, X, W, B=None, auto_pad=None, dilations=None, group=None,
             kernel_shape=None, pads=None, strides=None):
        _check_auto_pad(auto_pad)
        ndim = X.ndim - 2
        x, padding = _onnx_pads(pads, ndim, 0., _torch(X))
        conv = (F.conv1d, F.conv2d, F.conv3d)[ndim - 1]
        y = conv(x, _torch(W), None if B is None else _torch(B),
                 stride=strides or 1, padding=padding, dilation=dilations or 1,
                 groups=group or 1)
        return (y.numpy().astype(X.dtype), )


class MaxPool(OpRun):
    op_domain = ''

    def _run(self, x, auto_pad=None, ceil_mode=None, dilations=None, kernel_shape=None,
             pads=None, storage_order=None, strides=None):
        _check_auto_pad(auto_pad)
        ndim = x.ndim - 2
        t, padding = _onnx_pads(pads, ndim, -np.inf, _torch(x))
        pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[ndim - 1]
        y = pool(t, kernel_shape, stride=strides or kernel_shape, padding=padding,
                 dilation=dilations or 1, ceil_mode=bool(ceil_mode))
        return (y.numpy().astype(x.dtype), )


class MatMul(OpRun):
    op_domain = ''

    def _run(self, a, b):
        dtype = np.result_type(a, b)
        if not np.issubdtype(dtype, np.floating):
            return (np.matmul(a, b), )
        return ((_torch(a) @ _torch(b)).numpy().astype(dtype), )


class Gemm(OpRun):
    op_domain = ''

    def _run(self, A, B, C=None, alpha=None, beta=None, transA=None, transB=None):
        a, b = _torch(A), _torch(B)
        a = a.T if transA else a
        b = b.T if transB else b
        y = (1. if alpha is None else alpha) * (a @ b)
        if C is not None:
            y = y + (1. if beta is None else beta) * _torch(C)
        return (y.numpy().astype(A.dtype), )


class Erf(OpRun):
    op_domain = ''

    def _run(self, x):
        return (torch.special.erf(_torch(x)).numpy().astype(x.dtype), )


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


class Resize(_ReferenceResize):
    """The modes PyTorch exports for ``F.interpolate`` (bilinear, nearest) run in
    PyTorch, the rest in the (pure Python, slow) reference implementation."""

    def _run(self, X, roi, scales=None, sizes=None, antialias=None, axes=None,
             coordinate_transformation_mode=None, cubic_coeff_a=None,
             exclude_outside=None, extrapolation_value=None,
             keep_aspect_ratio_policy=None, mode=None, nearest_mode=None):
        mode, transform = _text(mode), _text(coordinate_transformation_mode)
        nearest_mode = _text(nearest_mode)
        keep_aspect = _text(keep_aspect_ratio_policy)
        plain_nchw = (X.ndim == 4 and not antialias and axes is None
                      and keep_aspect in (None, 'stretch')
                      and (sizes is None or list(sizes[:2]) == list(X.shape[:2]))
                      and (sizes is not None or (scales is not None and len(scales) == 4
                                                 and list(scales[:2]) == [1, 1])))
        torch_mode = None
        if mode == 'linear' and transform in ('half_pixel', 'pytorch_half_pixel'):
            torch_mode, align_corners = 'bilinear', False
        elif mode == 'linear' and transform == 'align_corners':
            torch_mode, align_corners = 'bilinear', True
        elif mode == 'nearest' and transform == 'asymmetric' and nearest_mode == 'floor':
            torch_mode, align_corners = 'nearest', None
        if not plain_nchw or torch_mode is None:
            return super()._run(
                X, roi, scales, sizes, antialias=antialias, axes=axes,
                coordinate_transformation_mode=coordinate_transformation_mode,
                cubic_coeff_a=cubic_coeff_a, exclude_outside=exclude_outside,
                extrapolation_value=extrapolation_value,
                keep_aspect_ratio_policy=keep_aspect_ratio_policy, mode=mode,
                nearest_mode=nearest_mode)
        if sizes is not None:
            resize = dict(size=[int(v) for v in sizes[2:]])
        else:
            resize = dict(scale_factor=[float(v) for v in scales[2:]],
                          recompute_scale_factor=False)
        y = F.interpolate(_torch(X), mode=torch_mode, align_corners=align_corners, **resize)
        return (y.numpy().astype(X.dtype), )


class GatherElements(OpRun):
    """The reference one uses ``np.choose``, which fails past 64 entries on the axis."""

    op_domain = ''

    def _run(self, data, indices, axis=None):
        axis = axis or 0
        indices = np.where(indices < 0, indices + data.shape[axis], indices)
        return (np.take_along_axis(data, indices, axis=axis), )


_FAST_REFERENCE_OPS = [Conv, MaxPool, MatMul, Gemm, Erf, Resize, GatherElements]
