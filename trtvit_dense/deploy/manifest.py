"""Deployment manifests: one JSON file that says what a deployed model was made from.

A latency or accuracy number is only worth something if it can be traced to the exact
files and software that produced it. The deploy tool writes a manifest next to the ONNX
file and the engine with the hashes of the config and checkpoint, the shape profile,
the precision, the I/O names and shapes, the files it wrote and
:func:`environment_versions`; the benchmark and report tools read it back instead of
trusting file names.

Manifests are written to a temporary name and renamed (:func:`trtvit_dense.utils.atomic.atomic_write_bytes`), so a
manifest that exists is complete, and keys are sorted so two manifests diff cleanly.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..utils.atomic import atomic_write_bytes

__all__ = ['ManifestError', 'environment_versions', 'file_sha256',
           'read_manifest', 'write_manifest']

# module name -> distribution names to ask importlib.metadata first (no import needed);
# a module installed under another distribution (onnxruntime-gpu, mmcv-lite,
# tensorrt-cu12, ...) falls back to importing it and reading ``__version__``.
_PACKAGES = {
    'mmcv': ('mmcv', 'mmcv-lite'),
    'mmengine': ('mmengine',),
    'mmdet': ('mmdet',),
    'mmseg': ('mmsegmentation',),
    'onnx': ('onnx',),
    'onnxruntime': ('onnxruntime', 'onnxruntime-gpu'),
    'tensorrt': ('tensorrt',),
}


class ManifestError(ValueError):
    """A manifest file that exists but cannot be read as a JSON object."""


def file_sha256(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks (checkpoints and engines can be GBs)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _package_version(module: str, dists: tuple[str, ...]) -> str | None:
    """Installed version of ``module``, or None when it is not installed.

    Distribution metadata is read first, which imports nothing (importing mmdet or
    tensorrt is slow and has side effects); otherwise the module's ``__version__``. A
    module that is found but fails to import is recorded as ``'unimportable: <error>'``
    rather than hidden as missing.
    """
    for dist in dists:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    try:
        if importlib.util.find_spec(module) is None:
            return None
        mod = importlib.import_module(module)
    except Exception as e:  # noqa: BLE001 - any import failure is worth recording
        return f'unimportable: {type(e).__name__}: {e}'
    return str(getattr(mod, '__version__', 'unknown'))


def _cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what platform knows."""
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment_versions() -> dict[str, str | None]:
    """Versions of everything that changes exported graphs, engines or timings.

    ``cuda`` is the CUDA version torch was built with and ``gpu`` the name of device 0;
    both are None on a machine without a usable GPU, as is ``tensorrt`` where it is not
    installed.
    """
    cuda = torch.cuda.is_available()
    versions: dict[str, str | None] = {
        'python': platform.python_version(),
        'torch': torch.__version__,
        'cuda': torch.version.cuda if cuda else None,
        'gpu': torch.cuda.get_device_name(0) if cuda else None,
        'cpu': _cpu_model(),
        'platform': platform.platform(),
    }
    for module, dists in _PACKAGES.items():
        versions[module] = _package_version(module, dists)
    return versions


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f'manifest values must be JSON data; got {type(obj).__name__}: {obj!r}')


def write_manifest(path: str | Path, **fields: Any) -> Path:
    """Write ``fields`` as a JSON object with sorted keys, atomically.

    Typical fields: ``config``/``checkpoint`` (path and :func:`file_sha256`), ``profile``,
    ``precision``, ``inputs``/``outputs`` (names, shapes, dtypes), ``files`` (what was
    written, with hashes) and ``environment`` (:func:`environment_versions`). Paths,
    tuples and numpy scalars/arrays are converted; anything else that JSON cannot hold
    raises ``TypeError`` before the file is touched.
    """
    text = json.dumps(fields, sort_keys=True, indent=2, default=_json_default)
    return atomic_write_bytes(path, (text + '\n').encode('utf-8'))


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Read a manifest written by :func:`write_manifest`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'manifest not found: {path}')
    try:
        data = json.loads(path.read_text(encoding='utf-8'))
    except json.JSONDecodeError as e:
        raise ManifestError(f'manifest {path} is not valid JSON (line {e.lineno}, column '
                            f'{e.colno}: {e.msg}); it is corrupt, write it again') from e
    except UnicodeDecodeError as e:
        raise ManifestError(f'manifest {path} is not UTF-8 text; it is corrupt, write it '
                            'again') from e
    if not isinstance(data, dict):
        raise ManifestError(f'manifest {path} must hold a JSON object, got '
                            f'{type(data).__name__}')
    return data
