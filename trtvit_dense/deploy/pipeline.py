"""The deploy pipeline behind ``tools/deploy.py``, as a sequence of steps:

1. :func:`prepare`: check the flags, load the model and deploy configs, read the
   verification and calibration images and the checkpoint (nothing is written before
   all of them are known to be good);
2. :func:`export_step`: end-to-end ONNX (``onnx.checker``) and the TensorRT lint;
3. :func:`convert_precision`: the fp16 conversion or the int8 quantization;
4. :func:`build_step`: the TensorRT engine;
5. :func:`verify_step`: the backend against PyTorch at the deploy config's shapes;
6. :func:`manifest_step`: ``manifest.json`` beside the files.

:func:`deploy` runs them; the folder it fills is a
:class:`~trtvit_dense.deploy.artifact.DeployedArtifact`."""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from ..config import (ConfigError, build_split_dataset, describe_model, load_config,
                      resolve_config_path, task_of)
from ..registry import MODELS
from .artifact import DeployedArtifact
from .backends import BACKENDS, BackendError, check_backend, open_backend
from .config import DeployConfig, load_deploy_config
from .onnx.export import build_exportable, export_onnx, model_signature
from .precision import check_precision, graph_kind
from .verify import (Tolerances, VerifyRow, load_images, make_inputs, normalization,
                     verify_backend)

__all__ = ['DeployError', 'DeployRequest', 'DeployInputs', 'DeployResult', 'load_model',
           'dataset_image_paths', 'calibration_image_paths', 'prepare',
           'export_step', 'convert_precision', 'build_step', 'verify_step', 'manifest_step',
           'deploy', 'CALIBRATION_SPLITS']

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
    graph: Path | None = None  # the graph of the requested precision
    # tabled TensorRT version -> whether every graph written imports under its rules
    tensorrt_parses: dict = field(default_factory=dict)
    signature: dict | None = None
    tolerances: Tolerances | None = None

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.verify)


def load_model(cfg: Config, checkpoint: str | Path | None) -> torch.nn.Module:
    """Build ``cfg.model`` and load ``checkpoint`` strictly: every weight must fit
    (:class:`~trtvit_dense.utils.checkpoint.CheckpointError` names what does not)."""
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
    from .quantize.int8 import spread
    from ..datasets.images import IMAGE_EXTS, folder_images
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
    except ConfigError as e:  # no such dataloader
        raise DeployError(f'--calib-data {source}: {e}') from None
    except (OSError, ValueError, KeyError) as e:
        raise DeployError(f'--calib-data {source}: cannot read the config\'s {source} '
                          f'split ({type(e).__name__}: {e}); give a folder of images'
                          ) from None
    if len(dataset) == 0:
        raise DeployError(f'--calib-data {source}: the config\'s {source} split is empty')
    index = spread(range(len(dataset)), num)
    return [dataset.get_data_info(i)['img_path'] for i in index]


def _lint(onnx_path: Path, strict_for: str | None, parses: dict) -> list:
    """Lint ``onnx_path`` against the parser rules of every tabled TensorRT version and
    record in ``parses`` which of them import it; with ``strict_for`` (the installed
    TensorRT's version) an error under its rules stops the deploy. Returns the issues
    under the newest rules."""
    from .onnx.lint import NEWEST_TABLE, format_issues, lint_versions, table_for
    by_version = lint_versions(onnx_path)
    for version, issues in by_version.items():
        clean = not any(i.severity == 'error' for i in issues)
        parses[version] = parses.get(version, True) and clean
    if strict_for is not None:
        rules = table_for(strict_for)
        errors = [i for i in by_version[rules] if i.severity == 'error']
        if errors:
            raise DeployError(f'{onnx_path} will not import into TensorRT {strict_for} '
                              f'(parser rules of {rules}):\n' + format_issues(errors))
    issues = by_version[NEWEST_TABLE]
    if issues:
        logger.warning('TensorRT lint of %s:\n%s', onnx_path, format_issues(issues))
    for version, other in by_version.items():
        if version != NEWEST_TABLE and any(i.severity == 'error' for i in other):
            logger.warning('%s will not import into TensorRT %s:\n%s', onnx_path, version,
                           format_issues([i for i in other if i.severity == 'error']))
    return issues


@dataclass
class DeployRequest:
    """What ``tools/deploy.py`` asks for (see :func:`deploy` for the fields)."""
    config: str | Path
    checkpoint: str | Path | None
    deploy_config: str | Path
    work_dir: str | Path
    backend: str = 'onnxruntime'
    precision: str = 'fp32'
    device: str = 'cpu'
    verify: bool = True
    images: Sequence[str] | None = None
    cfg_options: dict | None = None
    deploy_options: dict | None = None
    tolerances: Tolerances | None = None
    num_threads: int | None = None
    calib_data: str | Path | None = None
    calib_num: int | None = None
    quantizer: str | None = None  # int8: None is the backend's default (quantizers.py)


@dataclass
class DeployInputs:
    """Everything :func:`prepare` read and checked, before anything is written."""
    request: DeployRequest
    cfg: Config
    dcfg: DeployConfig
    task: str
    model: torch.nn.Module
    pictures: list[np.ndarray] | None
    calibration: list[np.ndarray] | None
    calib_paths: list[str]
    artifact: DeployedArtifact
    exportable: torch.nn.Module | None = None  # the export wrapper (export_step)
    tensorrt_version: str | None = None  # the installed TensorRT (a TensorRT deploy)
    runner: object = None  # the deployed file opened on its backend (build_step)


def _check_flags(req: DeployRequest) -> None:
    deployable = [name for name, entry in BACKENDS.items() if entry.deployed]
    if req.backend not in deployable:
        raise DeployError(f'--backend must be {" or ".join(deployable)}, got {req.backend!r}')
    try:
        check_precision(req.precision, '--precision')
    except ValueError as e:
        raise DeployError(str(e)) from None
    if req.precision == 'int8' and req.calib_data is None:
        raise DeployError('--precision int8 needs --calib-data: a folder of images or a '
                          f'split of the config ({", ".join(CALIBRATION_SPLITS)}) to '
                          'calibrate the quantization on')
    if req.precision != 'int8' and (req.calib_data is not None or req.calib_num is not None
                                    or req.quantizer is not None):
        raise DeployError('--calib-data, --calib-num and --quantizer apply to --precision '
                          'int8 only')
    if req.precision == 'int8':
        from .quantize.quantizers import QUANTIZERS, check_quantizer, default_quantizer
        try:
            req.quantizer = check_quantizer(req.quantizer or default_quantizer(req.backend))
        except ValueError as e:
            raise DeployError(str(e)) from None
        if QUANTIZERS[req.quantizer].available() is None:  # before minutes of export
            from .quantize.modelopt import REQUIREMENT
            raise DeployError(
                f"--quantizer {req.quantizer} (the default for --backend {req.backend}) "
                f"needs NVIDIA Model Optimizer ({REQUIREMENT}): pip install -e "
                "'.[modelopt]', or pass --quantizer onnxruntime")
    try:  # the runtime itself is probed once the configs are read (prepare)
        check_backend(req.backend, req.device, probe=False)
    except BackendError as e:
        raise DeployError(str(e)) from None


def prepare(req: DeployRequest) -> DeployInputs:
    """Step 1: check the flags and read every input; a bad one stops here, before the
    work dir is touched."""
    _check_flags(req)
    req.config = config = Path(resolve_config_path(req.config))
    cfg = load_config(str(config), req.cfg_options)
    dcfg: DeployConfig = load_deploy_config(req.deploy_config, req.deploy_options)
    task = task_of(cfg).name
    if dcfg.task != task:
        raise DeployError(f'deploy config {req.deploy_config} is for {dcfg.task}, but '
                          f'{config} is a {task} config')
    try:  # fail before minutes of export when the runtime (TensorRT) is missing
        check_backend(req.backend, req.device)
    except BackendError as e:
        raise DeployError(str(e)) from None
    tensorrt_version = None
    if req.backend == 'tensorrt':
        from .backends.tensorrt import import_tensorrt
        tensorrt_version = str(import_tensorrt().__version__)
    calibration, calib_paths = None, []
    if req.precision == 'int8':  # read the calibration images before anything is written
        from .quantize.int8 import DEFAULT_CALIB_NUM
        req.calib_num = DEFAULT_CALIB_NUM if req.calib_num is None else req.calib_num
        calib_paths = calibration_image_paths(cfg, req.calib_data, req.calib_num)
        try:
            calibration = load_images(calib_paths)
        except (ValueError, FileNotFoundError) as e:
            raise DeployError(f'--calib-data {req.calib_data}: {e}') from None
    pictures = None
    if req.verify:  # read the images before anything is written: a bad one stops here
        try:
            pictures = load_images(req.images) if req.images else load_images(
                dataset_image_paths(cfg))
        except ValueError as e:
            raise DeployError(f'{e}; verification needs readable images (--images)'
                              ) from None
    model = load_model(cfg, req.checkpoint)
    return DeployInputs(request=req, cfg=cfg, dcfg=dcfg, task=task, model=model,
                        pictures=pictures, calibration=calibration, calib_paths=calib_paths,
                        artifact=DeployedArtifact(req.work_dir),
                        tensorrt_version=tensorrt_version)


def export_step(inputs: DeployInputs) -> DeployResult:
    """Step 2: the export wrapper traced into ``end2end.onnx``, linted for TensorRT
    (errors stop a TensorRT deploy, warnings are logged)."""
    inputs.artifact.folder.mkdir(parents=True, exist_ok=True)
    exportable = build_exportable(inputs.model, inputs.dcfg)
    inputs.exportable = exportable
    signature = model_signature(inputs.cfg.model, inputs.task)
    result = DeployResult(task=inputs.task, onnx=inputs.artifact.graph('fp32'))
    result.export = export_onnx(exportable, inputs.dcfg, result.onnx, signature=signature)
    result.signature = signature
    result.files['onnx'] = result.onnx
    result.lint = _lint(result.onnx, inputs.tensorrt_version, result.tensorrt_parses)
    result.graph = result.onnx
    return result


def convert_precision(inputs: DeployInputs, result: DeployResult) -> None:
    """Step 3: the graph of the requested precision beside the fp32 one (fp16
    conversion, int8 QDQ quantization for the target backend)."""
    req = inputs.request
    if req.precision == 'fp32':
        return
    graph = inputs.artifact.graph(req.precision)
    if req.precision == 'fp16':
        from .quantize.fp16 import convert_to_fp16
        result.export['fp16'] = convert_to_fp16(result.onnx, graph)
        result.lint += _lint(graph, inputs.tensorrt_version, result.tensorrt_parses)
    else:
        from .quantize.int8 import CalibrationImages
        from .quantize.quantizers import quantize_graph
        dcfg = inputs.dcfg
        reader = CalibrationImages(inputs.calibration, dcfg.opt_shape[2:],
                                   *normalization(inputs.cfg), input_name=dcfg.input_name)
        try:
            result.export['int8'] = quantize_graph(result.onnx, graph, reader,
                                                   quantizer=req.quantizer,
                                                   target=req.backend)
        except (ValueError, ImportError) as e:
            raise DeployError(str(e)) from e
        result.export['int8']['calibration'] = dict(
            source=str(req.calib_data), images=len(inputs.calib_paths),
            shape=[1, 3, *dcfg.opt_shape[2:]], files=[str(p) for p in inputs.calib_paths])
        if req.backend == 'tensorrt':  # the onnxruntime graph's uint8 scheme is not for it
            result.lint += _lint(graph, inputs.tensorrt_version, result.tensorrt_parses)
    result.files[graph_kind(req.precision)] = graph
    result.graph = graph


def build_step(inputs: DeployInputs, result: DeployResult) -> None:
    """Step 4: the TensorRT engine of the graph; for ONNX Runtime, the session that
    runs it (which loads, so checks, the graph whether or not it is verified)."""
    req = inputs.request
    if req.backend != 'tensorrt':
        inputs.runner = open_backend(req.backend, result.graph, device=req.device,
                                     threads=req.num_threads)
        return
    from .backends.tensorrt import build_engine
    engine = inputs.artifact.engine
    result.export['tensorrt'] = build_engine(result.graph, engine, inputs.dcfg,
                                             precision=inputs.request.precision,
                                             timing_cache=inputs.artifact.timing_cache)
    result.files['engine'] = engine


def verify_step(inputs: DeployInputs, result: DeployResult) -> None:
    """Step 5: the deployed file on its backend against the PyTorch export wrapper, on
    real images at every verification shape (int8 with its own tolerances)."""
    req = inputs.request
    if not req.verify:
        return
    dcfg = inputs.dcfg
    shapes = dcfg.verify_shapes or [dcfg.opt_shape]
    batches = [make_inputs(inputs.pictures, s, *normalization(inputs.cfg), offset=i)
               for i, s in enumerate(shapes)]
    runner = inputs.runner or open_backend(req.backend, result.files['engine'],
                                           device=req.device)
    tolerances = req.tolerances
    if tolerances is None:
        from .quantize.int8 import INT8_TOLERANCES
        tolerances = INT8_TOLERANCES if req.precision == 'int8' else Tolerances()
    result.tolerances = tolerances
    result.verify = verify_backend(inputs.task, open_backend('pytorch', inputs.exportable),
                                   runner, batches, tolerances)


def expected_tensorrt(parses: dict) -> list[str]:
    """``[oldest, newest]`` supported TensorRT versions whose ONNX parsers are expected
    to import the graphs, from the lint's per-version verdicts (``[]``: none)."""
    from .backends.tensorrt.common import SUPPORTED_VERSIONS
    from .onnx.lint import OLDEST_TABLE, OPS_TABLES
    low = None
    for version in reversed(OPS_TABLES):  # the tables are oldest first: newest rules first
        if not parses.get(version):
            break
        low = version
    if low is None:
        return []
    return [SUPPORTED_VERSIONS[0] if low == OLDEST_TABLE else low, SUPPORTED_VERSIONS[1]]


def manifest_step(inputs: DeployInputs, result: DeployResult) -> None:
    """Step 6: ``manifest.json``: inputs with their hashes, the deploy config, the
    signature, what each step did, the files and the environment."""
    from .manifest import environment_versions, file_sha256, write_manifest
    req = inputs.request
    checkpoint = req.checkpoint
    manifest = dict(
        task=inputs.task, backend=req.backend, precision=req.precision, device=req.device,
        config=dict(path=str(req.config), sha256=file_sha256(req.config)),
        checkpoint=(dict(path=str(checkpoint), sha256=file_sha256(checkpoint))
                    if checkpoint else None),
        deploy_config=inputs.dcfg.to_dict(), signature=result.signature,
        export=result.export,
        files={k: dict(path=v.name, sha256=file_sha256(v)) for k, v in result.files.items()},
        lint=[str(i) for i in result.lint],
        # which TensorRT versions' ONNX parsers are expected to import the graphs
        tensorrt_parses=result.tensorrt_parses,
        tensorrt_expected=expected_tensorrt(result.tensorrt_parses),
        verify=[r.to_dict() for r in result.verify], verified=bool(result.verify),
        verify_tolerances=dataclasses.asdict(result.tolerances) if result.verify else None,
        verify_passed=result.passed if result.verify else None,
        environment=environment_versions())
    result.manifest = write_manifest(inputs.artifact.manifest_path, **manifest)


def deploy(config: str | Path, checkpoint: str | Path | None, deploy_config: str | Path,
           work_dir: str | Path, **options) -> DeployResult:
    """Export ``config`` + ``checkpoint`` for ``deploy_config`` into ``work_dir``.

    ``options`` are the other :class:`DeployRequest` fields: ``backend``
    ('onnxruntime' or 'tensorrt'), ``precision`` ('fp32', 'fp16', 'int8'), ``device``,
    ``verify``, ``images`` (verification images; default the test split's first 8),
    ``cfg_options``/``deploy_options`` (overrides), ``tolerances``, ``num_threads``,
    ``calib_data``/``calib_num``, ``quantizer``. ``precision='int8'`` quantizes the
    export with ``quantizer`` (default: the backend's,
    :data:`~trtvit_dense.deploy.quantize.quantizers.DEFAULT_QUANTIZER`) into
    ``end2end_int8.onnx`` (:mod:`~trtvit_dense.deploy.quantize.quantizers`) after
    calibrating it on ``calib_num`` (default
    :data:`~trtvit_dense.deploy.quantize.int8.DEFAULT_CALIB_NUM`) images of
    ``calib_data`` (a folder or a split name of the config, see
    :func:`calibration_image_paths`), and verifies it with
    :data:`~trtvit_dense.deploy.quantize.int8.INT8_TOLERANCES` unless ``tolerances``
    are given (fp32/fp16: :class:`Tolerances`' defaults)."""
    inputs = prepare(DeployRequest(config, checkpoint, deploy_config, work_dir, **options))
    result = export_step(inputs)
    convert_precision(inputs, result)
    build_step(inputs, result)
    verify_step(inputs, result)
    manifest_step(inputs, result)
    return result
