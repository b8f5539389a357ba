"""Build a serialized TensorRT engine from an exported ONNX graph (see the package
docstring for the TensorRT 10/11 differences this handles)."""
from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

from ....utils.atomic import atomic_write_bytes
from ...config import DeployConfig
from ...precision import check_precision
from ...quantize.checks import check_onnx_precision
from .common import (LOG_LEVELS, EngineBuildError, _dtype_name, _logger, _major_version,
                     import_tensorrt)

__all__ = ['build_engine']


def _tensor_info(tensor) -> dict[str, Any]:
    return dict(name=tensor.name, shape=[int(d) for d in tensor.shape],
                dtype=_dtype_name(tensor.dtype))


def _check_network_input(network, onnx_path: Path, deploy_cfg: DeployConfig) -> None:
    """One input, named as the deploy config says, whose fixed dims the profile keeps.

    A profile that varies a dim the graph fixed fails deep inside the builder with a
    message about dimensions; say which dim and which export setting instead.
    """
    names = [network.get_input(i).name for i in range(network.num_inputs)]
    if names != [deploy_cfg.input_name]:
        src = f' ({deploy_cfg.path})' if deploy_cfg.path else ''
        raise EngineBuildError(f'{onnx_path} has inputs {names}; the deploy config{src} '
                               f'expects one input named {deploy_cfg.input_name!r}')
    dims = [int(d) for d in network.get_input(0).shape]
    if len(dims) != len(deploy_cfg.min_shape):
        raise EngineBuildError(f'{onnx_path} input {deploy_cfg.input_name!r} has shape '
                               f'{dims}; the deploy profile is [B, 3, H, W]')
    for axis, dim in enumerate(dims):
        lo, hi = deploy_cfg.min_shape[axis], deploy_cfg.max_shape[axis]
        if dim >= 0 and not lo == hi == dim:
            raise EngineBuildError(
                f'{onnx_path} fixes dim {axis} of {deploy_cfg.input_name!r} to {dim} '
                f'(input shape {dims}) but the profile ({deploy_cfg.profile_text()}) gives '
                f'{lo}..{hi}; export the graph with this deploy config')


def _load_timing_cache(trt, config, path: Path | None):
    """Attach the timing cache at ``path`` (or an empty one) to ``config``.

    The cache holds measured kernel timings; reusing it makes rebuilds of the same
    layers (another variant, another precision) much faster. A cache made by another
    TensorRT version or GPU is not trusted: the build starts a new one.
    """
    blob = path.read_bytes() if path is not None and path.is_file() else b''
    cache = None
    if blob:
        try:
            cache = config.create_timing_cache(blob)
            if cache is not None and not config.set_timing_cache(cache, False):
                cache = None
        except Exception:  # noqa: BLE001 - TensorRT raises RuntimeError or others
            cache = None
        if cache is None:
            warnings.warn(f'timing cache {path} was made by another TensorRT version or '
                          'GPU; starting a new one', stacklevel=3)
    if cache is None:
        cache = config.create_timing_cache(b'')
        config.set_timing_cache(cache, False)
    return cache


def build_engine(onnx_path: str | Path, engine_path: str | Path, deploy_cfg: DeployConfig,
                 precision: str = 'fp32', timing_cache: str | Path | None = None,
                 log_level: str = 'WARNING') -> dict[str, Any]:
    """Build a serialized TensorRT engine for ``deploy_cfg``'s shape profile.

    Args:
        onnx_path: the exported graph (fp16 already for ``precision='fp16'``, the
            TensorRT QDQ graph for ``precision='int8'``).
        engine_path: where the engine goes; written under a temporary name and renamed
            when complete, so an engine file that exists is never half written.
        deploy_cfg: gives the input name, the one optimization profile (min/opt/max) and
            ``tensorrt['workspace_size']``.
        precision: 'fp32', 'fp16' or 'int8' (see the module docstring for why the graph
            decides).
        timing_cache: optional file read before and written back after the build.
        log_level: TensorRT logger severity, one of :data:`LOG_LEVELS`.

    Returns:
        A JSON-ready dict for the manifest: TensorRT version, build seconds, precision,
        profile, workspace, I/O names/shapes/dtypes (-1 marks a dynamic dim), files.
    """
    check_precision(precision)
    if log_level not in LOG_LEVELS:
        raise ValueError(f'log_level must be one of {LOG_LEVELS}, got {log_level!r}')
    trt = import_tensorrt()
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    cache_path = Path(timing_cache) if timing_cache is not None else None
    if not onnx_path.is_file():
        raise FileNotFoundError(f'ONNX file not found: {onnx_path}')
    check_onnx_precision(onnx_path, precision)

    start = time.perf_counter()
    logger = _logger(trt, log_level)
    # Registers TensorRT's own plugins; the ONNX parser maps RoiAlign onto ROIAlign_TRT.
    trt.init_libnvinfer_plugins(logger, '')
    builder = trt.Builder(logger)
    # STRONGLY_TYPED only where it still means something: 11 is always strongly typed
    # and only keeps the flag as a deprecated no-op.
    strongly_typed = precision in ('fp16', 'int8') or _major_version(trt) >= 11
    flags = 0
    if strongly_typed and _major_version(trt) < 11:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise EngineBuildError(f'TensorRT could not parse {onnx_path} '
                               f'({len(errors)} errors):\n' + '\n'.join(errors))
    _check_network_input(network, onnx_path, deploy_cfg)

    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    profile.set_shape(deploy_cfg.input_name, deploy_cfg.min_shape, deploy_cfg.opt_shape,
                      deploy_cfg.max_shape)
    config.add_optimization_profile(profile)
    workspace = int(deploy_cfg.tensorrt['workspace_size'])
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace)
    tf32 = getattr(trt.BuilderFlag, 'TF32', None)
    if precision in ('fp32', 'int8') and tf32 is not None:
        config.clear_flag(tf32)
    cache = _load_timing_cache(trt, config, cache_path)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineBuildError(f'TensorRT failed to build an engine from {onnx_path} for '
                               f'profile {deploy_cfg.profile_text()}; see its log above '
                               "(log_level='VERBOSE' says more)")
    atomic_write_bytes(engine_path, memoryview(serialized))
    if cache_path is not None:
        atomic_write_bytes(cache_path, memoryview(cache.serialize()))
    return dict(
        tensorrt=str(trt.__version__),
        build_seconds=round(time.perf_counter() - start, 3),
        precision=precision,
        strongly_typed=strongly_typed,
        tf32=config.get_flag(tf32) if tf32 is not None else None,
        profile=dict(min_shape=list(deploy_cfg.min_shape),
                     opt_shape=list(deploy_cfg.opt_shape),
                     max_shape=list(deploy_cfg.max_shape)),
        workspace_size=workspace,
        inputs=[_tensor_info(network.get_input(i)) for i in range(network.num_inputs)],
        outputs=[_tensor_info(network.get_output(i)) for i in range(network.num_outputs)],
        onnx=str(onnx_path),
        engine=str(engine_path),
        engine_bytes=engine_path.stat().st_size,
        timing_cache=str(cache_path) if cache_path is not None else None,
    )
