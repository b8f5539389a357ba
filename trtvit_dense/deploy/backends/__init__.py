"""Inference backends: one registry entry per runtime, one module (or package) each.

Every tool, the benchmark, the density analysis and inference open backends through
:func:`open_backend` and name them from :data:`BACKENDS`; adding a runtime is one module
with a :class:`~.base.Backend` subclass that has an ``open`` classmethod, and one
:class:`BackendEntry` below. The runtime module is imported on first use, so this
package imports on machines without onnxruntime's CUDA provider or TensorRT.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from .base import Backend, BackendUnavailable

__all__ = ['BACKENDS', 'DEVICES', 'Backend', 'BackendEntry', 'BackendError',
           'BackendUnavailable', 'backend_of', 'check_backend', 'open_backend']

DEVICES = {'cpu': 'the CPU', 'cuda': 'a CUDA GPU'}  # --device choices, in words


class BackendError(ValueError):
    """A backend name or device that does not exist or does not fit together."""


@dataclass(frozen=True)
class BackendEntry:
    """A runtime: what it runs (``suffixes`` of its model files; none for PyTorch, which
    runs a checkpoint through the export wrapper), where (``devices``) and its class
    (``'module:Class'`` in this package, imported lazily)."""

    name: str
    suffixes: tuple[str, ...]
    devices: tuple[str, ...]
    target: str

    @property
    def deployed(self) -> bool:
        """Runs a deployed file (an ONNX graph, an engine) rather than a checkpoint."""
        return bool(self.suffixes)

    def runs(self, path: str | Path) -> bool:
        return Path(path).suffix in self.suffixes

    def backend_class(self) -> type[Backend]:
        module, name = self.target.split(':')
        return getattr(importlib.import_module(f'{__name__}.{module}'), name)


BACKENDS: dict[str, BackendEntry] = {e.name: e for e in (
    BackendEntry('pytorch', (), DEVICES, 'pytorch:TorchBackend'),
    BackendEntry('onnxruntime', ('.onnx', ), DEVICES, 'onnxruntime:ORTBackend'),
    BackendEntry('tensorrt', ('.engine', '.plan', '.trt'), ('cuda', ),
                 'tensorrt:TensorRTBackend'),
)}


def backend_of(model_file: str | Path) -> str:
    """The backend that runs ``model_file``, from its suffix ('pytorch' for anything
    else, i.e. a checkpoint)."""
    return next((e.name for e in BACKENDS.values() if e.runs(model_file)), 'pytorch')


def check_backend(name: str, device: str = 'cpu', flag: str = '--backend',
                  probe: bool = True) -> BackendEntry:
    """The entry of backend ``name`` on ``device``; BackendError for an unknown name or a
    device the backend does not run on and, with ``probe``, :class:`BackendUnavailable`
    when its runtime is missing here (TensorRT without a GPU), before any work is done."""
    if name not in BACKENDS:
        raise BackendError(f'{flag} must be one of {", ".join(BACKENDS)}, got {name!r}')
    if device not in DEVICES:
        raise BackendError(f'--device must be one of {", ".join(DEVICES)}, got {device!r}')
    entry = BACKENDS[name]
    if device not in entry.devices:
        raise BackendError(f'the {name} backend runs on {DEVICES[entry.devices[0]]}: pass '
                           f'--device {entry.devices[0]}')
    if probe and name == 'tensorrt':
        from .tensorrt import import_tensorrt
        import_tensorrt()
    return entry


def open_backend(name: str, source, device: str = 'cpu', threads: int | None = None,
                 **kwargs) -> Backend:
    """Open ``source`` on backend ``name``: an export wrapper module for 'pytorch', an
    ``.onnx`` file for 'onnxruntime', a serialized engine for 'tensorrt'."""
    if name not in BACKENDS:
        raise BackendError(f'unknown backend {name!r}; choose one of {", ".join(BACKENDS)}')
    return BACKENDS[name].backend_class().open(source, device=device, threads=threads,
                                               **kwargs)
