"""Build the export wrapper of an mmdet/mmseg model and write a checked ONNX file.

The TorchScript exporter (``torch.onnx.export(dynamo=False)``) traces the rewrite in
:mod:`trtvit_dense.deploy.rewrite`; the dynamo exporter cannot trace data-dependent
NMS code and needs onnxscript. The file is written under a temporary name, passes
``onnx.checker`` (full check, with shape inference) and only then is renamed, so a
work dir never holds a complete-looking but broken model.
"""
from __future__ import annotations

import copy
import json
import time
import warnings
from pathlib import Path

import onnx
import torch
from mmengine.config import Config
from torch import nn

from ...tasks import get_task
from ...utils.atomic import atomic_path
from ..config import DeployConfig

__all__ = ['build_exportable', 'export_onnx', 'model_signature', 'read_signature',
           'check_signature', 'SignatureMismatch', 'METADATA_KEY', 'DEPLOY_METADATA_KEY']

METADATA_KEY = 'trtvit_dense.signature'
DEPLOY_METADATA_KEY = 'trtvit_dense.deploy_config'


class SignatureMismatch(ValueError):
    """A deployed model that was exported from a different model config."""


def model_signature(model_cfg: dict | Config, task: str) -> dict:
    """What must agree between a config and a deployed model: task, detector or
    segmentor type, backbone, number of classes and input normalisation."""
    m = model_cfg.to_dict() if isinstance(model_cfg, Config) else copy.deepcopy(model_cfg)
    backbone = m.get('backbone', {})
    head = get_task(task).deploy.head_config(m)
    pre = m.get('data_preprocessor', {})
    return dict(task=task, model_type=m.get('type'),
                backbone=dict(type=backbone.get('type'),
                              arch=backbone.get('arch', backbone.get('depth'))),
                num_classes=head.get('num_classes'),
                mean=[float(v) for v in pre.get('mean', [])],
                std=[float(v) for v in pre.get('std', [])])


def read_signature(model: onnx.ModelProto) -> dict | None:
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            return json.loads(prop.value)
    return None


def check_signature(expected: dict, found: dict | None, source: str) -> None:
    """Raise :class:`SignatureMismatch` listing every field that differs."""
    if found is None:
        raise SignatureMismatch(f'{source} carries no trtvit_dense signature; export it '
                                'with tools/deploy.py')
    diffs = [f'{k}: config has {expected.get(k)!r}, {source} has {found.get(k)!r}'
             for k in sorted(set(expected) | set(found)) if expected.get(k) != found.get(k)]
    if diffs:
        raise SignatureMismatch(f'{source} was exported from a different model: '
                                + '; '.join(diffs))


def build_exportable(model: nn.Module, deploy_cfg: DeployConfig) -> nn.Module:
    """Wrap a built model (weights loaded) for export. The wrapper holds its own copy of
    the model, whose backbone is then switched to its deploy form (TRT-ViT: BN folded
    into convs; Next-ViT: pre-norms merged into linear layers); the caller's model is
    left as it was."""
    from ...models.backbones import deploy_form
    return deploy_form(get_task(deploy_cfg.task).deploy.build_exportable(model, deploy_cfg))


def export_onnx(module: nn.Module, deploy_cfg: DeployConfig, onnx_path: str | Path,
                signature: dict | None = None, shape=None) -> dict:
    """Trace ``module`` at ``shape`` (default: the profile's opt shape) and write
    ``onnx_path`` with the profile's dynamic axes. Returns export info (seconds,
    opset, I/O names, dynamic dims)."""
    shape = tuple(shape or deploy_cfg.opt_shape)
    deploy_cfg.check_shape(shape, what='export shape')
    dims = deploy_cfg.dynamic_dims()
    dynamic_axes = {deploy_cfg.input_name: dims} if dims else None
    if dims:
        for name, axes in module.output_axes.items():
            # an output dim is dynamic when the input dim it follows is
            axes = {d: n for d, n in axes.items() if n in dims.values()}
            if axes:
                dynamic_axes[name] = axes
    torch.manual_seed(0)
    x = torch.rand(shape) * 2 - 1
    start = time.perf_counter()
    with atomic_path(onnx_path) as tmp:
        with torch.no_grad(), warnings.catch_warnings():
            # the tracer warns about every Python int taken from a traced size; the
            # rewrite keeps such ints out of the graph and ORT verification proves it
            warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
            # dynamo=False is a choice (see the module docstring), not an accident
            warnings.filterwarnings('ignore', message='You are using the legacy TorchScript')
            torch.onnx.export(module.eval(), (x,), str(tmp), dynamo=False,
                              opset_version=deploy_cfg.opset_version,
                              input_names=[deploy_cfg.input_name],
                              output_names=list(module.output_names),
                              dynamic_axes=dynamic_axes, do_constant_folding=True)
        model = onnx.load(str(tmp))
        # what test.py / DeployedModel check before running the file
        meta = {DEPLOY_METADATA_KEY: deploy_cfg.to_dict()}
        if signature is not None:
            meta[METADATA_KEY] = signature
        for key, value in meta.items():
            prop = model.metadata_props.add()
            prop.key, prop.value = key, json.dumps(value, sort_keys=True)
        onnx.save(model, str(tmp))
        onnx.checker.check_model(str(tmp), full_check=True)
    return dict(seconds=time.perf_counter() - start, opset=deploy_cfg.opset_version,
                trace_shape=list(shape), input_name=deploy_cfg.input_name,
                output_names=list(module.output_names),
                dynamic_axes={k: {str(d): n for d, n in v.items()}
                              for k, v in (dynamic_axes or {}).items()},
                num_nodes=len(model.graph.node))
