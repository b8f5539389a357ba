"""The benchmark behind ``tools/benchmark.py``: accuracy and latency of models on
backends, one row per model x backend x precision.

For every row the same backend object is timed and scored:

1. ``compute_opt``: the graph/engine call alone on a real image resized to the deploy
   profile's opt shape (:func:`~trtvit_dense.benchmark.stats.time_loop`);
2. ``e2e_opt``: decode, pre-processing, model and post-processing of a real image
   saved at the opt size, so the config's test pipeline produces the opt shape, with
   the share of each stage;
3. ``data``: one pass over the dataset split at the images' own shapes: end-to-end
   latency and the mmdet/mmseg evaluators' accuracy from the very same predictions.

PyTorch rows run the export wrapper eagerly: the computation the graph holds (BN folded
into convs), whose predictions equal mmdet's/mmseg's own (tested in
``tests/test_deploy``), behind the same host code as the other backends. Models given
as checkpoints are deployed first with :func:`trtvit_dense.deploy.pipeline.deploy`
(once; the deploy folder is reused) and verified against PyTorch at the opt shape.
Finished measurements are cached (:class:`~trtvit_dense.benchmark.cache.ResultCache`).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from ..apis.checks import check_config_file
from ..deploy.backends import BACKENDS, Backend, backend_of
from ..deploy.config import SCOPE_TASKS, DeployConfig, load_deploy_config
from ..deploy.manifest import environment_versions, file_sha256, read_manifest
from ..deploy.model import MANIFEST_NAME, read_deploy_metadata
from ..registry import MODELS
from .cache import ResultCache, cache_key
from .pipeline import STAGES, InferencePipeline, StageTimes
from .stats import TimingSettings, summarize, time_interleaved, time_loop

__all__ = ['BenchmarkError', 'ModelSpec', 'BenchmarkOptions', 'DEFAULT_DEPLOY_CONFIGS',
           'plan_rows', 'run_benchmark', 'benchmark_environment', 'accuracy_points',
           'network_complexity']

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DEPLOY_CONFIGS = {
    'detection': ROOT / 'configs/deploy/detection_dynamic-320x320-1344x1344.py',
    'segmentation': ROOT / 'configs/deploy/segmentation_dynamic-256x256-1024x1024.py',
}
PRECISIONS = ('fp32', 'fp16', 'int8')
logger = logging.getLogger(__name__)


class BenchmarkError(ValueError):
    """Benchmark inputs that cannot work together (named in the message)."""


@dataclass(frozen=True)
class ModelSpec:
    """A model config and what to run: a checkpoint (``.pth``), a deployed file
    (``.onnx``/``.engine``), or None for seeded random weights (latency only)."""
    config: str
    model: str | None = None
    name: str | None = None

    @property
    def display_name(self) -> str:
        return self.name or Path(self.config).stem


@dataclass(frozen=True)
class BenchmarkOptions:
    backends: tuple[str, ...] = ('pytorch', 'onnxruntime')
    precisions: tuple[str, ...] = ('fp32', )
    deploy_configs: dict = field(default_factory=dict)  # task -> deploy config path
    split: str = 'test'
    num_images: int | None = None
    timing: TimingSettings = TimingSettings()
    threads: int | None = None
    device: str = 'cpu'
    verify: bool = True
    with_static: bool = False
    paired: bool = False
    static_iters: int | None = None  # alternations of the A/B comparisons (None: iters)
    cfg_options: dict | None = None
    # int8 rows: calibration images, a folder or a split of the model config (None: its
    # train split) and how many (None: deploy.int8.DEFAULT_CALIB_NUM), see
    # deploy.pipeline.calibration_image_paths
    calib_data: str | None = None
    calib_num: int | None = None
    use_cache: bool = True
    progress: bool = True
    seed: int = 0


@dataclass
class Row:
    """One planned row: ``source`` is the checkpoint (or None) or the deployed file."""
    spec: ModelSpec
    backend: str
    precision: str
    source: str | None


# ------------------------------------------------------------------------- planning


def plan_rows(specs: Sequence[ModelSpec], options: BenchmarkOptions) -> list[Row]:
    """The rows to measure, with every impossible combination refused up front.

    A checkpoint (or random weights) runs on every requested backend (PyTorch in fp32
    only: it is the eager baseline); a deployed file runs on its own backend only."""
    bad = [b for b in options.backends if b not in BACKENDS]
    if bad or not options.backends:
        raise BenchmarkError(f'backends must be among {BACKENDS}, got {list(options.backends)}')
    bad = [p for p in options.precisions if p not in PRECISIONS]
    if bad or not options.precisions:
        raise BenchmarkError(f'precisions must be among {PRECISIONS}, got '
                             f'{list(options.precisions)}')
    if 'tensorrt' in options.backends and options.device != 'cuda':
        raise BenchmarkError('the tensorrt backend runs on a CUDA GPU: pass --device cuda')
    if options.num_images is not None and options.num_images < 1:
        raise BenchmarkError(f'--num-images must be >= 1, got {options.num_images}')
    if 'int8' in options.precisions and options.calib_num is not None \
            and options.calib_num < 1:
        raise BenchmarkError(f'--calib-num must be >= 1, got {options.calib_num}')
    names = [s.display_name for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise BenchmarkError(f'model names must be unique, {dup} repeat; name them')
    rows = []
    for spec in specs:
        check_config_file(spec.config)
        if spec.model is not None and not Path(spec.model).is_file():
            raise BenchmarkError(f'model file not found: {spec.model}')
        kind = backend_of(spec.model) if spec.model else 'pytorch'
        if kind != 'pytorch':
            if kind not in options.backends:
                raise BenchmarkError(
                    f'{spec.model} is a {kind} model; add {kind} to the backends or pass '
                    'the checkpoint to benchmark other backends')
            rows.append(Row(spec, kind, _deployed_precision(spec.model), spec.model))
            continue
        for backend in options.backends:
            precisions = ('fp32', ) if backend == 'pytorch' else options.precisions
            rows += [Row(spec, backend, p, spec.model) for p in precisions]
    return rows


def _deployed_precision(path: str) -> str:
    """fp16 / int8 when the deploy manifest beside ``path`` lists it as the fp16 / int8
    graph or an engine of that precision, else fp32."""
    manifest = Path(path).parent / MANIFEST_NAME
    if not manifest.is_file():
        return 'fp32'
    data = read_manifest(manifest)
    files = {v.get('path'): k for k, v in (data.get('files') or {}).items()}
    kind = files.get(Path(path).name)
    for precision in ('fp16', 'int8'):
        if kind == f'onnx_{precision}' or (kind == 'engine'
                                           and data.get('precision') == precision):
            return precision
    return 'fp32'


# ------------------------------------------------------------------------ utilities


def benchmark_environment(threads: int | None) -> dict:
    """:func:`environment_versions` plus the thread settings and the machine's load
    when the measurement started (contention makes CPU latency meaningless)."""
    env = environment_versions()
    env.update(cpu_count=os.cpu_count(), torch_threads=torch.get_num_threads(),
               threads=threads or 'default', loadavg_1min=round(os.getloadavg()[0], 2))
    return env


def accuracy_points(metrics: dict) -> dict:
    """mmdet/mmseg evaluator output -> ``bbox_mAP``/``segm_mAP`` (COCO mAP x 100) and
    ``mIoU``/``aAcc`` (mmseg already reports percentages)."""
    out = {}
    for key, value in metrics.items():
        short = key.split('/')[-1]
        if short in ('bbox_mAP', 'segm_mAP'):
            out[short] = 100.0 * float(value)
        elif short in ('mIoU', 'aAcc', 'mAcc'):
            out[short] = float(value)
    return out


class _DenseNetwork(torch.nn.Module):
    """Backbone, neck and dense heads (RPN/RetinaNet head, decode head) of a model: the
    part whose cost depends only on the input size."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        feats = self.model.extract_feat(x)
        outs = [feats]
        for name in ('rpn_head', 'bbox_head', 'decode_head'):
            head = getattr(self.model, name, None)
            if head is not None:
                outs.append(head(feats))
        return outs


def network_complexity(model: torch.nn.Module, shape: Sequence[int]) -> dict:
    """Params (M) of the whole model and GMACs of :class:`_DenseNetwork` at ``shape``
    (mmengine's FLOP counter counts a multiply-add once). RoI heads are left out: their
    cost depends on the number of proposals, not the input."""
    from ..models.complexity import count_gmacs
    params = sum(p.numel() for p in model.parameters()) / 1e6
    return dict(params_m=params, gmacs=count_gmacs(_DenseNetwork(model).eval(), shape),
                gmacs_scope='backbone+neck+dense heads')


def _stage_summary(times: Sequence[StageTimes]) -> dict:
    means = {s: float(np.mean([getattr(t, s) for t in times])) * 1e3 for s in STAGES}
    total = sum(means.values())
    host = (total - means['model']) / total if total > 0 else None
    return dict(stages_ms=means, host_fraction=host)


# ---------------------------------------------------------------------- the benchmark


class Benchmark:
    """Runs the planned rows of one benchmark; see :func:`run_benchmark`."""

    def __init__(self, work_dir: str | Path, options: BenchmarkOptions,
                 progress_factory: Callable | None = None):
        self.work_dir = Path(work_dir)
        self.options = options
        self.cache = ResultCache(self.work_dir / 'cache', enabled=options.use_cache)
        self._progress_factory = progress_factory
        self._configs: dict[str, Config] = {}
        self._hashes: dict[tuple, str] = {}

    def sha256(self, path: str | Path) -> str:
        """:func:`file_sha256`, computed once per file version: every row keys its
        measurements by the checkpoint's and deployed files' hashes, and checkpoints
        and engines can be gigabytes."""
        stat = Path(path).stat()
        key = (str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)
        if key not in self._hashes:
            self._hashes[key] = file_sha256(path)
        return self._hashes[key]

    # -- inputs ----------------------------------------------------------------
    def config(self, spec: ModelSpec) -> Config:
        """The spec's config with ``cfg_options`` applied (read once; the tools'
        loader, which refuses configs that are neither mmdet nor mmseg), its model and
        the data of the measured split checked as ``tools/test.py`` checks them."""
        if spec.config not in self._configs:
            from ..apis.checks import check_config
            from ..apis.runner import load_config
            cfg = load_config(spec.config, self.options.cfg_options)
            check_config(cfg, (self.options.split, ))
            self._configs[spec.config] = cfg
        return self._configs[spec.config]

    def deploy_config(self, task: str) -> DeployConfig:
        path = self.options.deploy_configs.get(task) or DEFAULT_DEPLOY_CONFIGS[task]
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
            from ..utils.atomic import atomic_path
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

    def _progress(self, total: int, desc: str):
        if self._progress_factory is not None:
            return self._progress_factory(total, desc)
        from tqdm import tqdm
        return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True,
                    disable=not self.options.progress)

    # -- deployment --------------------------------------------------------------
    def deployed_file(self, row: Row, cfg: Config, dcfg: DeployConfig,
                      static: bool = False) -> tuple[Path, dict]:
        """The ONNX graph / engine for a checkpoint row: deployed into
        ``work_dir/deploy/<name>-<hash>`` on first use and reused afterwards."""
        from ..deploy.pipeline import deploy
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
            from ..deploy.int8 import DEFAULT_CALIB_NUM
            source = self.options.calib_data or 'train'
            calib = dict(calib_data=str(Path(source).resolve()) if Path(source).is_dir()
                         else source, calib_num=self.options.calib_num or DEFAULT_CALIB_NUM)
            key.update(calib)
        out = self.work_dir / 'deploy' / f'{row.spec.display_name}-{cache_key(key)[:12]}'
        name = {('onnxruntime', 'fp32'): 'end2end.onnx',
                ('onnxruntime', 'fp16'): 'end2end_fp16.onnx',
                ('onnxruntime', 'int8'): 'end2end_int8.onnx'}.get(
                    (row.backend, row.precision), 'end2end.engine')
        manifest = out / MANIFEST_NAME
        if not (manifest.is_file() and (out / name).is_file()):
            logger.info('deploying %s for %s %s into %s', row.spec.display_name,
                        row.backend, row.precision, out)
            deploy(row.spec.config, ckpt, dcfg.path, out, backend=row.backend,
                   precision=row.precision, device=self.options.device,
                   verify=self.options.verify, cfg_options=self.options.cfg_options,
                   deploy_options=deploy_options, num_threads=self.options.threads,
                   **calib)
        data = read_manifest(manifest)
        info = dict(deploy_dir=str(out), verified=data.get('verified'),
                    verify_passed=data.get('verify_passed'))
        if data.get('verify_passed') is False:
            logger.warning('%s does not match PyTorch at the opt shape (see %s); its '
                           'accuracy is measured anyway', out / name, manifest)
        return out / name, info

    def backend(self, row: Row, cfg: Config, dcfg: DeployConfig, model_file: Path | None
                ) -> Backend:
        if row.backend == 'pytorch':
            from ..deploy.backends import TorchBackend
            from ..deploy.export import build_exportable
            from ..deploy.pipeline import load_model
            return TorchBackend(build_exportable(load_model(cfg, self.checkpoint(row.spec)),
                                                 dcfg))
        if row.backend == 'onnxruntime':
            from ..deploy.backends import ORTBackend
            from ..deploy.pipeline import PROVIDERS
            return ORTBackend(model_file, providers=PROVIDERS[self.options.device],
                              num_threads=self.options.threads)
        from ..deploy.model import check_engine_profile
        from ..deploy.tensorrt import TensorRTBackend
        engine = TensorRTBackend(model_file)
        check_engine_profile(engine, dcfg, str(model_file))
        return engine

    # -- measurements ------------------------------------------------------------
    def _dataset(self, cfg: Config):
        from ..deploy.pipeline import build_split_dataset
        dataset = build_split_dataset(cfg, self.options.split)
        if len(dataset) == 0:
            raise BenchmarkError(f'the {self.options.split} dataset of the config is empty')
        return dataset

    def _opt_input(self, cfg: Config, dcfg: DeployConfig, first_image: str) -> np.ndarray:
        from ..deploy.verify import load_images, make_inputs, normalization
        return make_inputs(load_images([first_image]), dcfg.opt_shape, *normalization(cfg))

    def _opt_item(self, dcfg: DeployConfig, first_image: str) -> dict:
        """The pipeline input of the end-to-end timings at the opt shape: a real image
        stored at the opt size (H x W), as JPEG like the datasets', without annotations."""
        h, w = dcfg.opt_shape[2:]
        path = self.work_dir / 'images' / f'{Path(first_image).stem}_{h}x{w}.jpg'
        if not path.is_file():
            img = cv2.imread(first_image, cv2.IMREAD_COLOR)
            if img is None:
                raise BenchmarkError(f'cannot decode image {first_image}')
            from ..utils.atomic import atomic_write_bytes
            ok, buf = cv2.imencode('.jpg', cv2.resize(img, (w, h)),
                                   [cv2.IMWRITE_JPEG_QUALITY, 95])
            if not ok:
                raise BenchmarkError(f'cannot encode {first_image} at {h}x{w} as JPEG')
            atomic_write_bytes(path, buf.tobytes())
        return dict(img_path=str(path), img_id=0, seg_fields=[], reduce_zero_label=False)

    def measure_compute(self, backend: Backend, x: np.ndarray, desc: str) -> dict:
        timing = self.options.timing
        with self._progress(timing.iters, desc) as bar:
            stats, _ = time_loop(lambda: backend.compute_seconds(x), timing, batch=x.shape[0],
                                 progress=lambda k: bar.update(1))
        return dict(stats.to_dict(), shape=list(x.shape))

    def measure_e2e_opt(self, pipe: InferencePipeline, info: dict, desc: str) -> dict:
        timing = self.options.timing
        collected: list[StageTimes] = []

        def once():
            _, times = pipe(info, annotations=False)
            collected.append(times)
            return times.total

        with self._progress(timing.iters, desc) as bar:
            stats, samples = time_loop(once, timing, progress=lambda k: bar.update(1))
        timed = collected[-len(samples):]
        return dict(stats.to_dict(), shape=list(pipe.last_input_shape),
                    image=info['img_path'],
                    **_stage_summary(timed))

    def measure_data(self, cfg: Config, pipe: InferencePipeline, dataset, desc: str) -> dict:
        from mmengine.evaluator import Evaluator
        n = len(dataset) if self.options.num_images is None else min(
            self.options.num_images, len(dataset))
        loader_name = f'{self.options.split}_evaluator'
        evaluator = Evaluator(cfg.get(loader_name))
        evaluator.dataset_meta = dataset.metainfo
        timing = self.options.timing
        first = dataset.get_data_info(0)
        time_loop(lambda: pipe(first)[1].total,  # warm-up at the data's shapes
                  replace(timing, iters=1, min_duration_s=0))
        times, shapes, img_ids = [], [], []
        with self._progress(n, desc) as bar:
            for i in range(n):
                info = dataset.get_data_info(i)
                samples, t = pipe(info)
                evaluator.process(samples, None)
                times.append(t)
                shapes.append(pipe.last_input_shape)
                img_ids.append(info.get('img_id'))
                bar.update(1)
        if n < len(dataset):
            # mmdet's CocoMetric scores every image of its annotation file; score the
            # images that were run
            for metric in evaluator.metrics:
                if hasattr(metric, '_coco_api') and hasattr(metric, 'img_ids'):
                    metric.img_ids = img_ids
        metrics = evaluator.evaluate(n)
        hw = np.array([s[2:] for s in shapes])
        return dict(images=n, dataset_size=len(dataset),
                    e2e=summarize([t.total for t in times]).to_dict(),
                    model=summarize([t.model for t in times]).to_dict(),
                    shapes=dict(min=hw.min(0).tolist(), max=hw.max(0).tolist()),
                    metrics={k: float(v) for k, v in metrics.items()},
                    accuracy=accuracy_points(metrics), **_stage_summary(times))

    # -- one row -------------------------------------------------------------------
    def run_row(self, row: Row) -> dict:
        spec = row.spec
        cfg = self.config(spec)
        task = SCOPE_TASKS[cfg.default_scope]
        dcfg = self.deploy_config(task)
        is_deployed = row.source is not None and backend_of(row.source) != 'pytorch'
        if is_deployed:  # it must come from this config's model, as in tools/test.py
            from ..deploy.export import check_signature, model_signature
            signature, deploy = read_deploy_metadata(row.source)
            check_signature(model_signature(cfg.model, task), signature, row.source)
            if deploy is not None:
                from ..deploy.config import from_dict
                dcfg = from_dict(deploy, path=row.source)
        model_file, deploy_info = (self.deployed_file(row, cfg, dcfg)
                                   if row.backend != 'pytorch' else (None, {}))
        source = model_file if model_file is not None else self.checkpoint(spec)
        base_key = dict(name=spec.display_name, config=self.sha256(spec.config),
                        cfg_options=self.options.cfg_options, model=self.sha256(source),
                        backend=row.backend, precision=row.precision,
                        device=self.options.device, profile=dcfg.to_dict()['profile'],
                        threads=self.options.threads)
        timing_key = dict(base_key, timing=self.options.timing.__dict__)
        dataset = self._dataset(cfg)
        first_image = dataset.get_data_info(0)['img_path']

        lazy: dict = {}

        def get_backend():
            if 'backend' not in lazy:
                lazy['backend'] = self.backend(row, cfg, dcfg, model_file)
                lazy['pipe'] = InferencePipeline(cfg, lazy['backend'], self.options.split,
                                                 deploy_cfg=dcfg)
            return lazy['backend'], lazy['pipe']

        label = f'{spec.display_name} {row.backend} {row.precision}'
        hits, misses = self.cache.hits, self.cache.misses
        env, _ = self.cache.get_or_compute(
            'environment', timing_key, lambda: benchmark_environment(self.options.threads))
        complexity, _ = self.cache.get_or_compute(
            'complexity', dict(config=base_key['config'], cfg_options=base_key['cfg_options'],
                               shape=list(dcfg.opt_shape)),
            lambda: network_complexity(self._pytorch_model(cfg), dcfg.opt_shape))
        compute, _ = self.cache.get_or_compute(
            'compute_opt', dict(timing_key, image=first_image),
            lambda: self.measure_compute(get_backend()[0], self._opt_input(cfg, dcfg, first_image),
                                         f'{label}: compute'))
        e2e, _ = self.cache.get_or_compute(
            'e2e_opt', dict(timing_key, image=first_image),
            lambda: self.measure_e2e_opt(get_backend()[1], self._opt_item(dcfg, first_image),
                                         f'{label}: e2e'))
        data, _ = self.cache.get_or_compute(
            'data', dict(base_key, data=self.data_key(cfg, dataset)),
            lambda: self.measure_data(cfg, get_backend()[1], dataset, f'{label}: images'))
        result = dict(
            name=spec.display_name, task=task, config=spec.config,
            backbone=_backbone_name(cfg), model_file=str(source),
            weights=('random (seed %d)' % self.options.seed if spec.model is None
                     else str(spec.model)),
            backend=row.backend, precision=row.precision, device=self.options.device,
            params_m=complexity['params_m'], gmacs=complexity['gmacs'],
            gmacs_scope=complexity['gmacs_scope'], profile=dcfg.to_dict()['profile'],
            compute_opt=compute, e2e_opt=e2e, data=data, accuracy=data['accuracy'],
            deploy=deploy_info, speedup_e2e=None, speedup_compute=None, environment=env)
        if self.options.paired and row.backend != 'pytorch' and not is_deployed:
            result['paired'] = self.paired_row(row, cfg, dcfg, timing_key, first_image,
                                               get_backend)
        if self.options.with_static and row.backend != 'pytorch' and not is_deployed:
            result['static'] = self.static_row(row, cfg, dcfg, timing_key, first_image,
                                               model_file)
        # what a re-run of an interrupted benchmark skipped
        logger.info('%s: %d measurements reused from %s, %d measured', label,
                    self.cache.hits - hits, self.cache.root, self.cache.misses - misses)
        lazy.clear()
        return result

    def static_row(self, row: Row, cfg: Config, dcfg: DeployConfig, timing_key: dict,
                   first_image: str, dynamic_file: Path) -> dict:
        """Model compute of the dynamic graph and of a static graph exported at the opt
        shape, timed in alternation on the same input (dynamic-vs-static comparison)."""
        static_file, _ = self.deployed_file(row, cfg, dcfg, static=True)

        def measure():
            x = self._opt_input(cfg, dcfg, first_image)
            backends = [self.backend(row, cfg, dcfg, f) for f in (dynamic_file, static_file)]
            return self._alternate(('dynamic', 'static'), 'dynamic_over_static',
                                   [lambda b=b: b.compute_seconds(x) for b in backends],
                                   batch=x.shape[0])

        result, _ = self.cache.get_or_compute(
            'compute_static', dict(timing_key, image=first_image,
                                   static_iters=self.options.static_iters,
                                   static_model=self.sha256(static_file)), measure)
        return dict(result, model_file=str(static_file))

    def paired_row(self, row: Row, cfg: Config, dcfg: DeployConfig, timing_key: dict,
                   first_image: str, get_backend: Callable) -> dict:
        """End to end at the opt shape of PyTorch eager and of this row's backend,
        timed in alternation on the same image: the speed-up as the median over
        back-to-back pairs, robust to the machine's drift."""
        def measure():
            torch_row = Row(row.spec, 'pytorch', 'fp32', row.spec.model)
            pipes = [InferencePipeline(cfg, self.backend(torch_row, cfg, dcfg, None),
                                       self.options.split, deploy_cfg=dcfg),
                     get_backend()[1]]
            info = self._opt_item(dcfg, first_image)
            return self._alternate(('pytorch', 'backend'), 'speedup_e2e',
                                   [lambda p=p: p(info, annotations=False)[1].total
                                    for p in pipes])

        result, _ = self.cache.get_or_compute(
            'paired_e2e', dict(timing_key, image=first_image,
                               pair_iters=self.options.static_iters,
                               pytorch_model=self.sha256(self.checkpoint(row.spec))),
            measure)
        return result

    def _alternate(self, names: tuple[str, str], ratio_name: str, fns: Sequence[Callable],
                   batch: int = 1) -> dict:
        """Time two functions in alternation (``--static-iters`` pairs); the ratio
        first/second is the median over back-to-back pairs."""
        timing = replace(self.options.timing, iters=self.options.static_iters
                         or self.options.timing.iters)
        stats, (first, second) = time_interleaved(fns, timing, batch=batch)
        ratios = sorted(a / b for a, b in zip(first, second))
        return {names[0]: stats[0].to_dict(), names[1]: stats[1].to_dict(),
                ratio_name: float(np.median(ratios)),
                'pair_ratio_range': [ratios[0], ratios[-1]]}

    def _pytorch_model(self, cfg: Config) -> torch.nn.Module:
        init_default_scope(cfg.default_scope)
        return MODELS.build(cfg.model).eval()


def _backbone_name(cfg: Config) -> str:
    bb = cfg.model.backbone
    if bb.get('type') in ('TRTViT', 'trtvit_dense.TRTViT'):
        return f"TRT-ViT-{str(bb.get('arch', 'a')).upper()}"
    depth = bb.get('depth')
    return f"{bb.get('type')}{depth if depth else ''}"


def run_benchmark(specs: Sequence[ModelSpec], work_dir: str | Path,
                  options: BenchmarkOptions = BenchmarkOptions(),
                  progress_factory: Callable | None = None,
                  on_row: Callable[[dict], None] | None = None) -> list[dict]:
    """Measure every planned row (cached rows are loaded); returns the report rows
    with speed-ups filled in. ``on_row`` sees each row as soon as it is done."""
    from .report import add_speedups
    rows = plan_rows(specs, options)
    if options.threads:
        torch.set_num_threads(options.threads)
    bench = Benchmark(work_dir, options, progress_factory)
    results = []
    for row in rows:
        result = bench.run_row(row)
        results.append(result)
        if on_row is not None:
            on_row(result)
    return add_speedups(results)
