"""Inference backends with one interface.

A backend maps the network input (a float32 ``[B, 3, H, W]`` array, already normalised
and padded by the model's data preprocessor) to a dict of named output arrays, the
same names and meaning for every backend:

* detection: ``dets`` [B, K, 5] float32 (x1, y1, x2, y2, score in input pixels),
  ``labels`` [B, K] int32 (-1 marks a padded row, whose box and score are 0), and for
  Mask R-CNN ``masks`` [B, K, M, M] float32 (mask probabilities of the label's class);
* segmentation: ``seg_labels`` [B, 1, H, W] int32 and optionally ``seg_logits``
  [B, C, H, W] float32.

:class:`TorchBackend` runs the export wrapper from :mod:`trtvit_dense.deploy.rewrite`
eagerly (the reference for verification), :class:`ORTBackend` runs the ONNX file and
``trtvit_dense.deploy.tensorrt.TensorRTBackend`` a serialized engine.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

__all__ = ['Backend', 'BackendUnavailable', 'ORTBackend', 'TorchBackend', 'build_backend',
           'BACKENDS', 'MODEL_SUFFIXES', 'backend_of']

BACKENDS = ('pytorch', 'onnxruntime', 'tensorrt')
# the deployed-model files each backend runs
MODEL_SUFFIXES = {'onnxruntime': ('.onnx', ), 'tensorrt': ('.engine', '.plan', '.trt')}


def backend_of(model_file: str | Path) -> str:
    """The backend that runs ``model_file``, from its suffix ('pytorch' for anything
    else, i.e. a checkpoint)."""
    suffix = Path(model_file).suffix
    return next((b for b, s in MODEL_SUFFIXES.items() if suffix in s), 'pytorch')


class BackendUnavailable(RuntimeError):
    """The backend's runtime (TensorRT, a GPU, an ORT provider) is not on this machine."""


class Backend:
    """Base class: ``backend(x) -> {output name: np.ndarray}``."""

    name = 'base'
    input_name = 'input'
    output_names: tuple[str, ...] = ()
    # images have 3 channels; None accepts any [B, C, H, W] (block benchmarks)
    channels: int | None = 3

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def compute_seconds(self, x: np.ndarray) -> float | None:
        """Run once for timing. Returns the device time of the model alone where the
        backend measures it (TensorRT: CUDA events), else None: the caller times the
        call on the host (CPU backends compute synchronously)."""
        self(x)
        return None

    def _as_input(self, x) -> np.ndarray:
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 4 or (self.channels is not None and x.shape[1] != self.channels):
            raise ValueError(f'input must be [B, {self.channels or "C"}, H, W], got shape '
                             f'{list(x.shape)}')
        return x


class TorchBackend(Backend):
    """The PyTorch export wrapper run eagerly, with the same interface."""

    name = 'pytorch'

    def __init__(self, module: torch.nn.Module):
        self.module = module.eval()
        self.output_names = tuple(module.output_names)

    @torch.no_grad()
    def __call__(self, x) -> dict[str, np.ndarray]:
        x = torch.from_numpy(self._as_input(x))
        outs = self.module(x)
        return {n: o.detach().cpu().numpy() for n, o in zip(self.output_names, outs)}


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


def build_backend(kind: str, path: str | Path, **kwargs) -> Backend:
    """Open a deployed model: ``kind`` is 'onnxruntime' (an .onnx file) or 'tensorrt'
    (a serialized engine)."""
    if kind == 'onnxruntime':
        return ORTBackend(path, **kwargs)
    if kind == 'tensorrt':
        from .tensorrt import TensorRTBackend
        return TensorRTBackend(path, **kwargs)
    raise ValueError(f'unknown backend {kind!r}; choose onnxruntime or tensorrt '
                     '(pytorch runs the checkpoint with tools/test.py directly)')
