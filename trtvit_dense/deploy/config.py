"""Deploy configs: the shape profile and export options of one deployment.

A deploy config (``configs/deploy/*.py``, an mmengine config) holds everything
shape-related, so the tools hard-code none of it::

    task = 'detection'                      # or 'segmentation'
    profile = dict(min_shape=[1, 3, 320, 320],  # [B, 3, H, W]; a dim is dynamic
                   opt_shape=[1, 3, 800, 1344], # in the exported graph iff its
                   max_shape=[2, 3, 1344, 1344])  # min and max differ
    onnx_config = dict(opset_version=17, input_name='input', with_logits=False)
    post_processing = dict(pre_top_k=3000)  # detection only, see rewrite
    verify = dict(shapes=[[1, 3, 800, 1344], ...])  # inside the profile
    tensorrt = dict(workspace_size=4 << 30)
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from mmengine.config import Config

from ..tasks import TASK_NAMES

__all__ = ['DeployConfig', 'DeployConfigError', 'ShapeError', 'load_deploy_config',
           'format_shape', 'from_dict']

MIN_OPSET = 17  # LayerNormalization is a single ONNX node from opset 17
DEFAULT_ONNX = dict(opset_version=17, input_name='input', with_logits=False)
DEFAULT_POST = dict(pre_top_k=3000)
DEFAULT_TRT = dict(workspace_size=4 << 30)


class DeployConfigError(ValueError):
    """A deploy config that is missing a field or contradicts itself."""


class ShapeError(ValueError):
    """An input shape outside the deploy profile."""


def _shape(name: str, value: Any) -> tuple[int, int, int, int]:
    if (not isinstance(value, (list, tuple)) or len(value) != 4
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                       for v in value)):
        raise DeployConfigError(
            f'{name} must be 4 positive ints [B, 3, H, W], got {value!r}')
    if value[1] != 3:
        raise DeployConfigError(f'{name} must have 3 channels, got {value!r}')
    return tuple(value)


def format_shape(shape: Sequence[int]) -> str:
    return 'x'.join(str(int(v)) for v in shape)


@dataclass
class DeployConfig:
    """A validated deploy config. ``path`` is where it was read from (or None)."""

    task: str
    min_shape: tuple[int, int, int, int]
    opt_shape: tuple[int, int, int, int]
    max_shape: tuple[int, int, int, int]
    onnx_config: dict = field(default_factory=lambda: dict(DEFAULT_ONNX))
    post_processing: dict = field(default_factory=lambda: dict(DEFAULT_POST))
    verify_shapes: list[tuple[int, int, int, int]] = field(default_factory=list)
    tensorrt: dict = field(default_factory=lambda: dict(DEFAULT_TRT))
    path: str | None = None

    def __post_init__(self):
        if self.task not in TASK_NAMES:
            raise DeployConfigError(f'task must be one of {TASK_NAMES}, got {self.task!r}')
        for lo, hi in ((self.min_shape, self.opt_shape), (self.opt_shape, self.max_shape)):
            if any(a > b for a, b in zip(lo, hi)):
                raise DeployConfigError(
                    'profile must satisfy min_shape <= opt_shape <= max_shape in every '
                    f'dim, got min {format_shape(self.min_shape)}, opt '
                    f'{format_shape(self.opt_shape)}, max {format_shape(self.max_shape)}')
        opset = self.onnx_config.get('opset_version')
        if not isinstance(opset, int) or opset < MIN_OPSET:
            raise DeployConfigError(
                f'onnx_config.opset_version must be an int >= {MIN_OPSET}, got {opset!r}')
        pre = self.post_processing.get('pre_top_k')
        if not isinstance(pre, int) or pre <= 0:
            raise DeployConfigError(
                f'post_processing.pre_top_k must be a positive int, got {pre!r}')
        for shape in self.verify_shapes:
            try:
                self.check_shape(shape, what='verify shape')
            except ShapeError as e:
                raise DeployConfigError(str(e)) from None

    # -- profile ------------------------------------------------------------------
    @property
    def input_name(self) -> str:
        return self.onnx_config['input_name']

    @property
    def opset_version(self) -> int:
        return self.onnx_config['opset_version']

    @property
    def is_dynamic(self) -> bool:
        return self.min_shape != self.max_shape

    def dynamic_dims(self) -> dict[int, str]:
        """Input dims that vary inside the profile, as ``{dim: name}``."""
        names = {0: 'batch', 2: 'height', 3: 'width'}
        return {d: n for d, n in names.items() if self.min_shape[d] != self.max_shape[d]}

    def profile_text(self) -> str:
        return (f'min {format_shape(self.min_shape)}, opt {format_shape(self.opt_shape)}, '
                f'max {format_shape(self.max_shape)}')

    def check_shape(self, shape: Sequence[int], what: str = 'input shape') -> None:
        """Raise :class:`ShapeError` naming the allowed range if ``shape`` is outside."""
        shape = tuple(int(v) for v in shape)
        if len(shape) != 4 or any(not lo <= v <= hi for v, lo, hi in
                                  zip(shape, self.min_shape, self.max_shape)):
            src = f' ({self.path})' if self.path else ''
            raise ShapeError(
                f'{what} {format_shape(shape)} is outside the deploy profile{src}: each '
                f'dim must lie between min {format_shape(self.min_shape)} and max '
                f'{format_shape(self.max_shape)}')

    def to_dict(self) -> dict:
        return dict(task=self.task,
                    profile=dict(min_shape=list(self.min_shape),
                                 opt_shape=list(self.opt_shape),
                                 max_shape=list(self.max_shape)),
                    onnx_config=copy.deepcopy(self.onnx_config),
                    post_processing=copy.deepcopy(self.post_processing),
                    verify=dict(shapes=[list(s) for s in self.verify_shapes]),
                    tensorrt=copy.deepcopy(self.tensorrt),
                    path=self.path)


def from_dict(cfg: dict, path: str | None = None) -> DeployConfig:
    """Build a :class:`DeployConfig` from a plain dict (the config file's fields)."""
    if 'task' not in cfg:
        raise DeployConfigError(f'deploy config {path or ""} has no `task`'.replace('  ', ' '))
    profile = cfg.get('profile')
    if not isinstance(profile, dict):
        raise DeployConfigError('deploy config needs `profile = dict(min_shape=..., '
                                'opt_shape=..., max_shape=...)`')
    shapes = {}
    for key in ('min_shape', 'opt_shape', 'max_shape'):
        if key not in profile:
            raise DeployConfigError(f'profile is missing `{key}`')
        shapes[key] = _shape(f'profile.{key}', list(profile[key]))
    unknown = set(profile) - set(shapes)
    if unknown:
        raise DeployConfigError(f'unknown profile keys: {sorted(unknown)}')
    onnx_cfg = {**DEFAULT_ONNX, **dict(cfg.get('onnx_config', {}))}
    post = {**DEFAULT_POST, **dict(cfg.get('post_processing', {}))}
    trt_cfg = {**DEFAULT_TRT, **dict(cfg.get('tensorrt', {}))}
    verify = dict(cfg.get('verify', {}))
    verify_shapes = [_shape('verify shape', list(s)) for s in verify.get('shapes', [])]
    return DeployConfig(task=cfg['task'], onnx_config=onnx_cfg, post_processing=post,
                        verify_shapes=verify_shapes, tensorrt=trt_cfg, path=path,
                        **shapes)


def load_deploy_config(path: str | Path, cfg_options: dict | None = None) -> DeployConfig:
    """Read and validate a deploy config file (``--cfg-options`` style overrides)."""
    path = Path(path)
    if str(path).startswith('trtvit_dense::'):  # a deploy config shipped with the package
        from ..config import ConfigError, package_config
        try:
            path = Path(package_config(str(path)))
        except ConfigError as e:
            raise DeployConfigError(str(e)) from None
    if not path.is_file():
        raise DeployConfigError(f'deploy config not found: {path}')
    cfg = Config.fromfile(str(path))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return from_dict(cfg.to_dict(), path=str(path))
