"""The deploy pipeline behind ``tools/deploy.py``: load the model, export end-to-end
ONNX, check it (``onnx.checker`` and the TensorRT lint), optionally convert to fp16 or
quantize to int8 (QDQ, calibrated on images) and build a TensorRT engine, verify the
backend against PyTorch and write a manifest."""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from ..registry import MODELS
from .backends import ORTBackend, TorchBackend
from .config import SCOPE_TASKS, DeployConfig, load_deploy_config
from .export import build_exportable, export_onnx, model_signature
from .model import MANIFEST_NAME
from .verify import (Tolerances, VerifyRow, load_images, make_inputs, normalization,
                     verify_backend)

__all__ = ['DeployError', 'DeployResult', 'load_model', 'build_split_dataset',
           'dataset_image_paths', 'calibration_image_paths', 'deploy', 'PROVIDERS',
           'PRECISIONS', 'CALIBRATION_SPLITS']

PROVIDERS = {'cpu': ('CPUExecutionProvider',),
             'cuda': ('CUDAExecutionProvider', 'CPUExecutionProvider')}
PRECISIONS = ('fp32', 'fp16', 'int8')
# dataloaders of a model config that --calib-data may name instead of a folder
CALIBRATION_SPLITS = ('train', 'val', 'test')
logger = logging.getLogger(__name__)


class DeployError(ValueError):
    """Inputs the deploy pipeline cannot work with (named in the message)."""


@dataclass
class DeployResult:
    task: str
    onnx: Path
    files: dict[str, Path] = field(default_factory=dict)
    export: dict = field(default_factory=dict)
    lint: list = field(default_factory=list)
    verify: list[VerifyRow] = field(default_factory=list)
    manifest: Path | None = None

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.verify)


def task_of_config(cfg: Config) -> str:
    scope = cfg.get('default_scope')
    if scope not in SCOPE_TASKS:
        raise DeployError(f"config default_scope must be 'mmdet' or 'mmseg', got {scope!r}")
    return SCOPE_TASKS[scope]


def load_model(cfg: Config, checkpoint: str | Path | None) -> torch.nn.Module:
    """Build ``cfg.model`` and load ``checkpoint`` strictly: every weight must fit
    (:class:`~trtvit_dense.utils.checkpoint.CheckpointError` names what does not)."""
    from ..apis.checks import describe_model
    from ..utils.checkpoint import check_weights, read_checkpoint, state_dict_of
    init_default_scope(cfg.default_scope)
    if checkpoint is not None:
        weights = state_dict_of(read_checkpoint(str(checkpoint)))
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        check_weights({k: tuple(v.shape) for k, v in model.state_dict().items()}, weights,
                      str(checkpoint), describe_model(cfg))
        model.load_state_dict(weights, strict=True)
    return model.eval()


def build_split_dataset(cfg: Config, split: str = 'test'):
    """The dataset of the config's ``<split>_dataloader``, annotations loaded."""
    from mmengine.registry import DATASETS
    init_default_scope(cfg.default_scope)
    loader = cfg.get(f'{split}_dataloader')
    if loader is None:
        raise DeployError(f'the config has no {split}_dataloader')
    ds_cfg = loader.dataset.copy()
    ds_cfg['lazy_init'] = False
    return DATASETS.build(ds_cfg)


def dataset_image_paths(cfg: Config, limit: int = 8) -> list[str]:
    """The first ``limit`` image paths of the config's test dataset."""
    dataset = build_split_dataset(cfg, 'test')
    paths = [dataset.get_data_info(i)['img_path'] for i in range(min(limit, len(dataset)))]
    if not paths:
        raise DeployError('the test dataset is empty; pass --images for verification')
    return paths


def calibration_image_paths(cfg: Config, source: str | Path, num: int) -> list[str]:
    """``num`` images spread evenly over ``source``: a folder (its image files,
    sorted) or a split name of ``cfg`` (its dataset's images, in dataset order). An
    existing folder wins over a split of the same name."""
    from .int8 import spread
    from .verify import IMAGE_EXTS, folder_images
    if not isinstance(num, int) or isinstance(num, bool) or num < 1:
        raise DeployError(f'--calib-num must be an integer >= 1, got {num!r}')
    path = Path(source)
    if path.is_dir():
        files = [str(f) for f in folder_images(path)]
        if not files:
            raise DeployError(f'--calib-data folder {path} holds no images '
                              f'({", ".join(IMAGE_EXTS)})')
        return spread(files, num)
    if str(source) not in CALIBRATION_SPLITS:
        what = 'is a file, not a folder' if path.exists() else 'is no folder'
        raise DeployError(f'--calib-data {str(source)!r} {what} and not a split name '
                          f'({", ".join(CALIBRATION_SPLITS)}); give a folder of images or '
                          'a split of the config')
    try:
        dataset = build_split_dataset(cfg, str(source))
    except DeployError as e:
        raise DeployError(f'--calib-data {source}: {e}') from None
    except (OSError, ValueError, KeyError) as e:
        raise DeployError(f'--calib-data {source}: cannot read the config\'s {source} '
                          f'split ({type(e).__name__}: {e}); give a folder of images'
                          ) from None
    if len(dataset) == 0:
        raise DeployError(f'--calib-data {source}: the config\'s {source} split is empty')
    index = spread(range(len(dataset)), num)
    return [dataset.get_data_info(i)['img_path'] for i in index]


def _lint(onnx_path: Path, strict: bool) -> list:
    from .trt_lint import format_issues, lint_onnx
    issues = lint_onnx(onnx_path)
    errors = [i for i in issues if i.severity == 'error']
    if errors and strict:
        raise DeployError(f'{onnx_path} will not import into TensorRT:\n'
                          + format_issues(errors))
    if issues:
        logger.warning('TensorRT lint of %s:\n%s', onnx_path, format_issues(issues))
    return issues


def deploy(config: str | Path, checkpoint: str | Path | None, deploy_config: str | Path,
           work_dir: str | Path, backend: str = 'onnxruntime', precision: str = 'fp32',
           device: str = 'cpu', verify: bool = True, images: Sequence[str] | None = None,
           cfg_options: dict | None = None, deploy_options: dict | None = None,
           tolerances: Tolerances | None = None, num_threads: int | None = None,
           calib_data: str | Path | None = None, calib_num: int | None = None
           ) -> DeployResult:
    """Export ``config`` + ``checkpoint`` for ``deploy_config`` into ``work_dir``.

    ``precision='int8'`` quantizes the export (``end2end_int8.onnx``, see
    :mod:`~trtvit_dense.deploy.int8`) after calibrating it on ``calib_num`` (default
    :data:`~trtvit_dense.deploy.int8.DEFAULT_CALIB_NUM`) images of ``calib_data`` (a
    folder or a split name of the config, see :func:`calibration_image_paths`), and
    verifies it with :data:`~trtvit_dense.deploy.int8.INT8_TOLERANCES` unless
    ``tolerances`` are given (fp32/fp16: :class:`Tolerances`' defaults)."""
    from .manifest import environment_versions, file_sha256, write_manifest
    if backend not in ('onnxruntime', 'tensorrt'):
        raise DeployError(f'--backend must be onnxruntime or tensorrt, got {backend!r}')
    if precision not in PRECISIONS:
        raise DeployError(f'--precision must be one of {", ".join(PRECISIONS)}, got '
                          f'{precision!r}')
    if precision == 'int8' and calib_data is None:
        raise DeployError('--precision int8 needs --calib-data: a folder of images or a '
                          f'split of the config ({", ".join(CALIBRATION_SPLITS)}) to '
                          'calibrate the quantization on')
    if precision != 'int8' and (calib_data is not None or calib_num is not None):
        raise DeployError('--calib-data and --calib-num apply to --precision int8 only')
    if device not in PROVIDERS:
        raise DeployError(f'--device must be cpu or cuda, got {device!r}')
    if backend == 'tensorrt' and device != 'cuda':
        raise DeployError('the tensorrt backend runs on a CUDA GPU: pass --device cuda')
    from ..apis.runner import load_config
    config = Path(config)
    cfg = load_config(str(config), cfg_options)
    dcfg: DeployConfig = load_deploy_config(deploy_config, deploy_options)
    task = task_of_config(cfg)
    if dcfg.task != task:
        raise DeployError(f'deploy config {deploy_config} is for {dcfg.task}, but '
                          f'{config} is a {task} config')
    if backend == 'tensorrt':
        from .tensorrt import import_tensorrt
        import_tensorrt()  # fail before minutes of export when TensorRT is missing
    calibration = None
    if precision == 'int8':  # read the calibration images before anything is written
        from .int8 import DEFAULT_CALIB_NUM
        calib_num = DEFAULT_CALIB_NUM if calib_num is None else calib_num
        calib_paths = calibration_image_paths(cfg, calib_data, calib_num)
        try:
            calibration = load_images(calib_paths)
        except (ValueError, FileNotFoundError) as e:
            raise DeployError(f'--calib-data {calib_data}: {e}') from None
    pics = None
    if verify:  # read the images before anything is written: a bad one stops here
        try:
            pics = load_images(images) if images else load_images(dataset_image_paths(cfg))
        except ValueError as e:
            raise DeployError(f'{e}; verification needs readable images (--images)'
                              ) from None
    model = load_model(cfg, checkpoint)
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)

    exportable = build_exportable(model, dcfg)
    signature = model_signature(cfg.model, task)
    result = DeployResult(task=task, onnx=work_dir / 'end2end.onnx')
    result.export = export_onnx(exportable, dcfg, result.onnx, signature=signature)
    result.files['onnx'] = result.onnx
    result.lint = _lint(result.onnx, strict=backend == 'tensorrt')
    graph = result.onnx
    if precision == 'fp16':
        from .fp16 import convert_to_fp16
        graph = work_dir / 'end2end_fp16.onnx'
        result.export['fp16'] = convert_to_fp16(result.onnx, graph)
        result.files['onnx_fp16'] = graph
    elif precision == 'int8':
        from .int8 import CalibrationImages, quantize_int8
        graph = work_dir / 'end2end_int8.onnx'
        reader = CalibrationImages(calibration, dcfg.opt_shape[2:], *normalization(cfg),
                                   input_name=dcfg.input_name)
        try:
            result.export['int8'] = quantize_int8(
                result.onnx, graph, reader,
                target='tensorrt' if backend == 'tensorrt' else 'onnxruntime')
        except ValueError as e:
            raise DeployError(str(e)) from e
        result.export['int8']['calibration'] = dict(
            source=str(calib_data), images=len(calib_paths),
            shape=[1, 3, *dcfg.opt_shape[2:]], files=[str(p) for p in calib_paths])
        result.files['onnx_int8'] = graph
        if backend == 'tensorrt':  # the onnxruntime graph's uint8 scheme is not for it
            result.lint += _lint(graph, strict=True)

    if backend == 'tensorrt':
        from .tensorrt import TensorRTBackend, build_engine
        engine = work_dir / 'end2end.engine'
        result.export['tensorrt'] = build_engine(graph, engine, dcfg, precision=precision,
                                                 timing_cache=work_dir / 'timing.cache')
        result.files['engine'] = engine
        runner = None
    else:
        runner = ORTBackend(graph, providers=PROVIDERS[device], num_threads=num_threads)

    if verify:
        shapes = dcfg.verify_shapes or [dcfg.opt_shape]
        batches = [make_inputs(pics, s, *normalization(cfg), offset=i)
                   for i, s in enumerate(shapes)]
        if runner is None:
            runner = TensorRTBackend(result.files['engine'])
        if tolerances is None:
            from .int8 import INT8_TOLERANCES
            tolerances = INT8_TOLERANCES if precision == 'int8' else Tolerances()
        result.verify = verify_backend(task, TorchBackend(exportable), runner, batches,
                                       tolerances)

    manifest = dict(
        task=task, backend=backend, precision=precision, device=device,
        config=dict(path=str(config), sha256=file_sha256(config)),
        checkpoint=(dict(path=str(checkpoint), sha256=file_sha256(checkpoint))
                    if checkpoint else None),
        deploy_config=dcfg.to_dict(), signature=signature, export=result.export,
        files={k: dict(path=v.name, sha256=file_sha256(v)) for k, v in result.files.items()},
        lint=[str(i) for i in result.lint],
        verify=[r.to_dict() for r in result.verify], verified=bool(result.verify),
        verify_tolerances=dataclasses.asdict(tolerances) if result.verify else None,
        verify_passed=result.passed if result.verify else None,
        environment=environment_versions())
    result.manifest = write_manifest(work_dir / MANIFEST_NAME, **manifest)
    return result
