"""Run a serialized TensorRT engine as a :class:`~trtvit_dense.deploy.backends.Backend`."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...config import ShapeError, format_shape
from ..base import Backend
from .common import (LOG_LEVELS, _dtype_name, _logger, check_profile_shape, import_tensorrt,
                     trt_dtype_to_torch)

__all__ = ['TensorRTBackend']

DEVICE = 'cuda'  # where the I/O buffers live


def stream_and_events(timed: bool):
    """The current CUDA stream and, when ``timed``, two timing events on it."""
    stream = torch.cuda.current_stream()
    if not timed:
        return stream, None, None
    return (stream, torch.cuda.Event(enable_timing=True),
            torch.cuda.Event(enable_timing=True))


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
        inp = torch.from_numpy(x).to(DEVICE).to(self.dtypes[self.input_name]).contiguous()
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
            outputs[name] = torch.empty(shape, dtype=self.dtypes[name], device=DEVICE)
            self.context.set_tensor_address(name, outputs[name].data_ptr())
        stream, start, end = stream_and_events(timed)
        if timed:
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

    @classmethod
    def open(cls, source: str | Path, device: str = 'cuda', threads: int | None = None,
             log_level: str = 'WARNING') -> 'TensorRTBackend':
        return cls(source, log_level=log_level)
