"""The models of a benchmark and what they are run from: configs (read and checked
once), checkpoints (or seeded random weights), deployed files (deployed on first use
and reused), datasets and the opt-shape inputs, and the backend of each row."""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from ..checks import check_config
from ..config import build_split_dataset, load_config, package_config, resolve_config_path
from ..deploy.artifact import DeployedArtifact, check_engine_profile
from ..deploy.backends import Backend, backend_of, open_backend
from ..deploy.config import DeployConfig, load_deploy_config
from ..deploy.manifest import file_sha256
from ..deploy.onnx.export import build_exportable
from ..deploy.pipeline import deploy, load_model
from ..deploy.verify import load_images, make_inputs, normalization
from ..registry import MODELS
from ..tasks import get_task
from ..utils.atomic import atomic_path, atomic_write_bytes
from .cache import cache_key
from .plan import BenchmarkError, BenchmarkOptions, ModelSpec, Row

__all__ = ['ModelStore']
logger = logging.getLogger(__name__)


class ModelStore:
    """Configs, checkpoints, deployed files, datasets and backends of one benchmark's
    rows, each made or read once (deployed files live in ``work_dir/deploy``)."""

    def __init__(self, work_dir: str | Path, options: BenchmarkOptions):
        self.work_dir = Path(work_dir)
        self.options = options
        self._configs: dict[str, Config] = {}
        self._hashes: dict[tuple, str] = {}

    def sha256(self, path: str | Path) -> str:
        """:func:`file_sha256`, computed once per file version: every row keys its
        measurements by the checkpoint's and deployed files' hashes, and checkpoints
        and engines can be gigabytes."""
        path = resolve_config_path(path)
        stat = Path(path).stat()
        key = (str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)
        if key not in self._hashes:
            self._hashes[key] = file_sha256(path)
        return self._hashes[key]

    def config(self, spec: ModelSpec) -> Config:
        """The spec's config with ``cfg_options`` applied (read once; the tools'
        loader, which refuses configs that are neither mmdet nor mmseg), its model and
        the data of the measured split checked as ``tools/test.py`` checks them."""
        if spec.config not in self._configs:
            cfg = load_config(spec.config, self.options.cfg_options)
            check_config(cfg, (self.options.split, ))
            self._configs[spec.config] = cfg
        return self._configs[spec.config]

    def deploy_config(self, task: str) -> DeployConfig:
        """The deploy config of ``task``'s rows: the option's, or the task's default."""
        path = self.options.deploy_configs.get(task) or package_config(
            get_task(task).deploy_config)
        dcfg = load_deploy_config(path)
        if dcfg.task != task:
            raise BenchmarkError(f'deploy config {path} is for {dcfg.task}, not {task}')
        return dcfg

    def checkpoint(self, spec: ModelSpec) -> Path:
        """The spec's checkpoint, or a seeded random-weight one written once."""
        if spec.model is not None:
            return Path(spec.model)
        path = self.work_dir / 'checkpoints' / f'{spec.display_name}-seed{self.options.seed}.pth'
        if not path.is_file():
            cfg = self.config(spec)
            init_default_scope(cfg.default_scope)
            torch.manual_seed(self.options.seed)
            model = MODELS.build(cfg.model)
            model.init_weights()
            with atomic_path(path) as tmp:
                torch.save(dict(state_dict=model.state_dict(),
                                meta=dict(seed=self.options.seed, random_weights=True)), tmp)
        return path

    def data_key(self, cfg: Config, dataset) -> dict:
        """What the data pass depends on: the split, the images that run (their paths)
        and the annotation file's content."""
        ds = cfg.get(f'{self.options.split}_dataloader').dataset
        ann = ds.get('ann_file') or ''
        ann_path = Path(ds.get('data_root') or '', ann) if ann else None
        n = len(dataset) if self.options.num_images is None else min(
            self.options.num_images, len(dataset))
        paths = '\n'.join(dataset.get_data_info(i)['img_path'] for i in range(n))
        return dict(split=self.options.split, images=n, dataset_size=len(dataset),
                    image_paths=cache_key(dict(paths=paths)),
                    ann_sha=self.sha256(ann_path) if ann_path and ann_path.is_file() else None)

    def deployed_file(self, row: Row, cfg: Config, dcfg: DeployConfig,
                      static: bool = False) -> tuple[Path, dict]:
        """The ONNX graph / engine for a checkpoint row: deployed into
        ``work_dir/deploy/<name>-<hash>`` on first use and reused afterwards."""
        if row.source is not None and backend_of(row.source) != 'pytorch':
            return Path(row.source), {}
        ckpt = self.checkpoint(row.spec)
        opt = list(dcfg.opt_shape)
        deploy_options = {'verify.shapes': [opt]}
        if static:
            deploy_options.update({'profile.min_shape': opt, 'profile.max_shape': opt})
        key = dict(config=self.sha256(row.spec.config), cfg_options=self.options.cfg_options,
                   checkpoint=self.sha256(ckpt), deploy=dcfg.to_dict(), static=static,
                   backend=row.backend, precision=row.precision, device=self.options.device)
        calib = {}
        if row.precision == 'int8':
            from ..deploy.quantize.int8 import DEFAULT_CALIB_NUM
            source = self.options.calib_data or 'train'
            calib = dict(calib_data=str(Path(source).resolve()) if Path(source).is_dir()
                         else source, calib_num=self.options.calib_num or DEFAULT_CALIB_NUM,
                         quantizer=row.quantizer)
            key.update(calib)
        out = self.work_dir / 'deploy' / f'{row.spec.display_name}-{cache_key(key)[:12]}'
        artifact = DeployedArtifact(out)
        model_file = (artifact.engine if row.backend == 'tensorrt'
                      else artifact.graph(row.precision))
        if not (artifact.manifest_path.is_file() and model_file.is_file()):
            logger.info('deploying %s for %s %s into %s', row.spec.display_name,
                        row.backend, row.precision, out)
            deploy(row.spec.config, ckpt, dcfg.path, out, backend=row.backend,
                   precision=row.precision, device=self.options.device,
                   verify=self.options.verify, cfg_options=self.options.cfg_options,
                   deploy_options=deploy_options, num_threads=self.options.threads,
                   **calib)
        data = artifact.manifest  # not read before: the deploy above wrote it
        info = dict(deploy_dir=str(out), verified=data.get('verified'),
                    verify_passed=data.get('verify_passed'))
        int8 = (data.get('export') or {}).get('int8')
        if int8:  # what the quantizer made of the graph, for the report's int8 table
            info['int8'] = {k: int8.get(k) for k in (
                'quantizer', 'target', 'float_precision', 'quantized', 'int8_inputs',
                'qdq_nodes', 'num_nodes')}
        if data.get('verify_passed') is False:
            logger.warning('%s does not match PyTorch at the opt shape (see %s); its '
                           'accuracy is measured anyway', model_file, artifact.manifest_path)
        return model_file, info

    def backend(self, row: Row, cfg: Config, dcfg: DeployConfig, model_file: Path | None
                ) -> Backend:
        """The row's backend: the PyTorch export wrapper of the checkpoint, or the
        deployed file on its runtime (an engine checked against its deploy profile)."""
        if row.backend == 'pytorch':
            model = load_model(cfg, self.checkpoint(row.spec))
            return open_backend('pytorch', build_exportable(model, dcfg))
        runner = open_backend(row.backend, model_file, device=self.options.device,
                              threads=self.options.threads)
        check_engine_profile(runner, dcfg, str(model_file))
        return runner

    def dataset(self, cfg: Config):
        """The measured split's dataset; an empty one is refused."""
        dataset = build_split_dataset(cfg, self.options.split)
        if len(dataset) == 0:
            raise BenchmarkError(f'the {self.options.split} dataset of the config is empty')
        return dataset

    def opt_input(self, cfg: Config, dcfg: DeployConfig, first_image: str) -> np.ndarray:
        return make_inputs(load_images([first_image]), dcfg.opt_shape, *normalization(cfg))

    def batch_input(self, cfg: Config, dcfg: DeployConfig, first_image: str,
                    batch: int) -> np.ndarray:
        """``batch`` copies of the opt input: [batch, 3, opt H, opt W]."""
        shape = (batch, *dcfg.opt_shape[1:])
        return make_inputs(load_images([first_image]), shape, *normalization(cfg))

    def opt_item(self, dcfg: DeployConfig, first_image: str) -> dict:
        """The pipeline input of the end-to-end timings at the opt shape: a real image
        stored at the opt size (H x W), as JPEG like the datasets', without annotations."""
        h, w = dcfg.opt_shape[2:]
        path = self.work_dir / 'images' / f'{Path(first_image).stem}_{h}x{w}.jpg'
        if not path.is_file():
            img = cv2.imread(first_image, cv2.IMREAD_COLOR)
            if img is None:
                raise BenchmarkError(f'cannot decode image {first_image}')
            ok, buf = cv2.imencode('.jpg', cv2.resize(img, (w, h)),
                                   [cv2.IMWRITE_JPEG_QUALITY, 95])
            if not ok:
                raise BenchmarkError(f'cannot encode {first_image} at {h}x{w} as JPEG')
            atomic_write_bytes(path, buf.tobytes())
        return dict(img_path=str(path), img_id=0, seg_fields=[], reduce_zero_label=False)

    def pytorch_model(self, cfg: Config) -> torch.nn.Module:
        init_default_scope(cfg.default_scope)
        return MODELS.build(cfg.model).eval()
