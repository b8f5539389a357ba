"""Deployment: export to ONNX with dynamic shapes, verify against PyTorch, build and run
TensorRT engines (see tools/deploy.py)."""
from .backends import (BACKENDS, Backend, BackendUnavailable, ORTBackend, TorchBackend,
                       build_backend)
from .config import DeployConfig, DeployConfigError, ShapeError, load_deploy_config

__all__ = ['BACKENDS', 'Backend', 'BackendUnavailable', 'ORTBackend', 'TorchBackend',
           'build_backend', 'DeployConfig', 'DeployConfigError', 'ShapeError',
           'load_deploy_config']
