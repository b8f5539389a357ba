"""What the TensorRT builder and runtime share: the lazy import with its two refusals
(no TensorRT, no CUDA), the profile check, dtype names and the logger."""
from __future__ import annotations

from typing import Any, Sequence

import torch

from ...config import ShapeError, format_shape
from ..base import BackendUnavailable

LOG_LEVELS = ('VERBOSE', 'INFO', 'WARNING', 'ERROR', 'INTERNAL_ERROR')  # trt.Logger.*
# The TensorRT versions this project supports: the builder and runtime are checked
# against the real bindings of both ends and versions between them
# (tests/test_deploy/test_tensorrt_api.py), and the graphs lint clean under the parser
# rules of the oldest and the newest table (deploy/onnx/lint.py). setup.py's extras
# read this line.
SUPPORTED_VERSIONS = ('10.0.1', '11.4.0.106')
# CUDA major version of torch's build -> the TensorRT package built for it (a plain
# `pip install tensorrt` pulls the CUDA 13 build whatever torch is)
PACKAGES = {12: 'tensorrt-cu12', 13: 'tensorrt-cu13'}
TENSORRT_NOT_FOUND = 'TensorRT not found'
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


def tensorrt_package(cuda: str | None = None) -> str | None:
    """The TensorRT package for a torch built for CUDA ``cuda`` (default: this torch's
    ``torch.version.cuda``); None for a CPU build or a CUDA without a TensorRT build."""
    cuda = torch.version.cuda if cuda is None else cuda
    return PACKAGES.get(int(cuda.split('.')[0])) if cuda else None


def tensorrt_not_found(cuda: str | None = None) -> str:
    """What to install, for this machine's torch: the exact package and extra."""
    cuda = torch.version.cuda if cuda is None else cuda
    package = tensorrt_package(cuda)
    low, high = SUPPORTED_VERSIONS
    if package is None:
        extras = ' or '.join(f"'trtvit_dense[{p}]' (CUDA {m})" for m, p in PACKAGES.items())
        why = (f'this torch is a CPU build' if not cuda
               else f'no TensorRT package is built for CUDA {cuda}')
        return (f'{TENSORRT_NOT_FOUND}, and {why}: TensorRT runs on a CUDA machine with a '
                f'CUDA 12 or 13 build of torch; there, pip install {extras} '
                f'(TensorRT {low} to {high}, from the package index)')
    return (f"{TENSORRT_NOT_FOUND}: pip install 'trtvit_dense[{package}]' ({package} "
            f'{low} to {high}, the build for this torch\'s CUDA {cuda})')


def import_tensorrt():
    """Return the ``tensorrt`` module, or raise :class:`BackendUnavailable` saying why.

    Both building and running an engine need a CUDA device, so a machine with the wheel
    but no usable GPU gets its own message instead of a CUDA error deep in TensorRT.
    """
    try:
        import tensorrt as trt
    except ImportError as e:
        raise BackendUnavailable(tensorrt_not_found()) from e
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


def _logger(trt, log_level: str):
    return trt.Logger(getattr(trt.Logger, log_level))


def _major_version(trt) -> int:
    return int(str(trt.__version__).split('.', 1)[0])
