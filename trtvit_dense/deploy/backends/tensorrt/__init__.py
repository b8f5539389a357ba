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
from .builder import build_engine
from .common import (LOG_LEVELS, NO_CUDA, PACKAGES, SUPPORTED_VERSIONS, TENSORRT_NOT_FOUND,
                     EngineBuildError, tensorrt_not_found, tensorrt_package,
                     check_profile_shape, import_tensorrt, trt_dtype_to_torch)
from .runtime import TensorRTBackend

__all__ = ['EngineBuildError', 'LOG_LEVELS', 'NO_CUDA', 'PACKAGES', 'SUPPORTED_VERSIONS',
           'TENSORRT_NOT_FOUND', 'tensorrt_not_found', 'tensorrt_package',
           'TensorRTBackend', 'build_engine', 'check_profile_shape', 'import_tensorrt',
           'trt_dtype_to_torch']
