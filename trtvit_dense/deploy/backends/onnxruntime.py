"""ONNX Runtime sessions of an exported graph, on the CPU or CUDA execution provider."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .base import Backend, BackendUnavailable

__all__ = ['ORTBackend', 'PROVIDERS']

# device -> the execution providers a session on it uses, in order of preference
PROVIDERS = {'cpu': ('CPUExecutionProvider',),
             'cuda': ('CUDAExecutionProvider', 'CPUExecutionProvider')}


class ORTBackend(Backend):
    """ONNX Runtime session. ``providers`` are ORT provider names (CPU, CUDA, TensorRT
    execution providers); asking for one this onnxruntime build lacks is an error."""

    name = 'onnxruntime'

    def __init__(self, onnx_path: str | Path,
                 providers: Sequence[str] = ('CPUExecutionProvider',),
                 num_threads: int | None = None):
        import onnxruntime as ort
        onnx_path = Path(onnx_path)
        if not onnx_path.is_file():
            raise FileNotFoundError(f'ONNX file not found: {onnx_path}')
        available = ort.get_available_providers()
        missing = [p for p in providers if p not in available]
        if missing:
            raise BackendUnavailable(
                f'ONNX Runtime providers {missing} are not available in this onnxruntime '
                f'build (available: {available})')
        opts = ort.SessionOptions()
        if num_threads:
            opts.intra_op_num_threads = int(num_threads)
        self.session = ort.InferenceSession(str(onnx_path), opts, providers=list(providers))
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ValueError(f'{onnx_path} has {len(inputs)} inputs; expected one image input')
        self.input_name = inputs[0].name
        self.output_names = tuple(o.name for o in self.session.get_outputs())
        self.path = onnx_path

    def __call__(self, x) -> dict[str, np.ndarray]:
        outs = self.session.run(list(self.output_names), {self.input_name: self._as_input(x)})
        return dict(zip(self.output_names, outs))

    @classmethod
    def open(cls, source: str | Path, device: str = 'cpu',
             threads: int | None = None) -> 'ORTBackend':
        return cls(source, providers=PROVIDERS[device], num_threads=threads)
