"""Int8 quantizers: the one list of them, the default per backend, and one call.

A quantizer turns the float32 export into the int8 QDQ graph ``end2end_int8.onnx``;
each is one entry of :data:`QUANTIZERS` (a new one is a new entry and its module):

* ``'modelopt'``: NVIDIA TensorRT Model Optimizer's ONNX PTQ (:mod:`.modelopt`), Q/DQ
  placed by TensorRT's fusion rules; the default for TensorRT.
* ``'onnxruntime'``: ``onnxruntime.quantization`` with this project's float-path rules
  (:mod:`.int8`), Q/DQ placed for ONNX Runtime's int8 kernels; the default for ONNX
  Runtime, and what TensorRT uses when ModelOpt is not installed and
  ``--quantizer onnxruntime`` is given.

Both read the same calibration images (:class:`~.int8.CalibrationImages`), write the
target backend's scheme (TensorRT: int8 symmetric activations) and return the same
stats keys for the manifest (``quantizer``, ``quantized``, ``int8_inputs``,
``qdq_nodes``, ...). ``docs/quantization.md`` compares them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

__all__ = ['Quantizer', 'QUANTIZERS', 'DEFAULT_QUANTIZER', 'default_quantizer',
           'check_quantizer', 'quantize_graph']


@dataclass(frozen=True)
class Quantizer:
    name: str
    summary: str
    calibrate_methods: tuple[str, ...]
    # (src, dst, calibration, target=..., calibrate_method=...) -> stats
    run: Callable[..., dict]
    # the installed version, or None where it cannot run here
    available: Callable[[], str | None]


def _run_onnxruntime(src, dst, calibration, target, calibrate_method):
    from .int8 import quantize_int8
    return quantize_int8(src, dst, calibration, target=target,
                         calibrate_method=calibrate_method)


def _run_modelopt(src, dst, calibration, target, calibrate_method):
    from .modelopt import quantize_modelopt
    return quantize_modelopt(src, dst, calibration, target=target,
                             calibrate_method=calibrate_method)


def _onnxruntime_version() -> str | None:
    import onnxruntime
    return str(onnxruntime.__version__)


def _modelopt_version() -> str | None:
    from .modelopt import modelopt_version
    return modelopt_version()


QUANTIZERS: dict[str, Quantizer] = {
    'modelopt': Quantizer(
        'modelopt', 'NVIDIA Model Optimizer ONNX PTQ: Q/DQ on the inputs of what TensorRT '
        'fuses', ('minmax', 'entropy'), _run_modelopt, _modelopt_version),
    'onnxruntime': Quantizer(
        'onnxruntime', 'onnxruntime.quantization with float paths: Q/DQ around ONNX '
        "Runtime's int8 kernels", ('minmax', 'percentile', 'entropy'), _run_onnxruntime,
        _onnxruntime_version),
}
#: the quantizer a backend gets when none is named
DEFAULT_QUANTIZER: dict[str, str] = {'tensorrt': 'modelopt', 'onnxruntime': 'onnxruntime'}


def check_quantizer(name: str, flag: str = '--quantizer') -> str:
    """``name`` if it is a quantizer of :data:`QUANTIZERS`, else ValueError naming them."""
    if name not in QUANTIZERS:
        raise ValueError(f'{flag} must be one of {", ".join(QUANTIZERS)}, got {name!r}')
    return name


def default_quantizer(backend: str) -> str:
    """The quantizer of ``backend``'s int8 graphs when none is named."""
    if backend not in DEFAULT_QUANTIZER:
        raise ValueError(f'no int8 graph is made for backend {backend!r}; int8 backends: '
                         f'{", ".join(DEFAULT_QUANTIZER)}')
    return DEFAULT_QUANTIZER[backend]


def quantize_graph(src, dst, calibration, quantizer: str, target: str,
                   calibrate_method: str = 'minmax') -> dict[str, Any]:
    """Quantize the float32 graph ``src`` into ``dst`` with ``quantizer`` for ``target``
    (the backend that runs it); returns the quantizer's stats."""
    entry = QUANTIZERS[check_quantizer(quantizer)]
    if calibrate_method not in entry.calibrate_methods:
        raise ValueError(f'the {quantizer!r} quantizer calibrates with '
                         f'{", ".join(entry.calibrate_methods)}, got {calibrate_method!r}')
    return entry.run(src, dst, calibration, target=target, calibrate_method=calibrate_method)
