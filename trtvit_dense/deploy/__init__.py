"""Deployment: export to ONNX with dynamic shapes, convert the precision, build TensorRT
engines, verify against PyTorch (``tools/deploy.py``), and run deployed models.

Sub-packages, in the manner of mmdeploy's split:

* :mod:`.onnx`: export (:mod:`.onnx.export`), graph helpers, the TensorRT op lint;
* :mod:`.quantize`: the fp16 conversion, int8 QDQ quantization, precision checks;
* :mod:`.backends`: the backend registry and one module per runtime (PyTorch, ONNX
  Runtime, TensorRT builder and runtime);
* :mod:`.rewrite`: the exportable forms of mmdet/mmseg inference;
* :mod:`.tasks`: each task's deploy side (export wrapper, post-processing, verification).

Modules: :mod:`.config` (deploy configs), :mod:`.precision`, :mod:`.artifact` (a deployed
folder), :mod:`.verify`, :mod:`.manifest`, :mod:`.model` (a deployed model as an mmengine
model), :mod:`.pipeline` (the deploy steps).
"""
from .backends import (BACKENDS, Backend, BackendError, BackendUnavailable, backend_of,
                       open_backend)
from .backends.onnxruntime import ORTBackend
from .backends.pytorch import TorchBackend
from .config import DeployConfig, DeployConfigError, ShapeError, load_deploy_config
from .precision import PRECISIONS

__all__ = ['BACKENDS', 'Backend', 'BackendError', 'BackendUnavailable', 'ORTBackend',
           'PRECISIONS', 'TorchBackend', 'backend_of', 'open_backend', 'DeployConfig',
           'DeployConfigError', 'ShapeError', 'load_deploy_config']
