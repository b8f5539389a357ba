"""The benchmark behind ``tools/benchmark.py``: accuracy and latency of models on
backends, one row per model x backend x precision.

For every row the same backend object is timed and scored:

1. ``compute_opt``: the graph/engine call alone on a real image resized to the deploy
   profile's opt shape (:func:`~trtvit_dense.benchmark.stats.time_loop`);
2. ``e2e_opt``: decode, pre-processing, model and post-processing of a real image
   saved at the opt size, so the config's test pipeline produces the opt shape, with
   the share of each stage;
3. ``data``: one pass over the dataset split at the images' own shapes: end-to-end
   latency and the mmdet/mmseg/mmpretrain evaluators' accuracy from the very same
   predictions;
4. ``compute_batch`` (``--batch N``): the model compute at batch N and the opt height
   and width: throughput and per-image latency.

PyTorch rows run the export wrapper eagerly: the computation the graph holds (BN folded
into convs), whose predictions equal mmdet's/mmseg's own (tested in
``tests/test_deploy``), behind the same host code as the other backends. Models given
as checkpoints are deployed first with :func:`trtvit_dense.deploy.pipeline.deploy`
(once; the deploy folder is reused) and verified against PyTorch at the opt shape.
Finished measurements are cached (:class:`~trtvit_dense.benchmark.cache.ResultCache`).
"""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Sequence

import torch
from mmengine.config import Config

from ..config import task_of
from ..deploy.artifact import DeployedArtifact
from ..deploy.backends import backend_of
from ..deploy.config import DeployConfig
from ..deploy.precision import precision_label
from .cache import ResultCache
from .measure import Measurer, benchmark_environment, network_complexity
from .models import ModelStore
from .pipeline import InferencePipeline
from .plan import BenchmarkError, BenchmarkOptions, ModelSpec, Row, plan_rows

__all__ = ['Benchmark', 'BenchmarkError', 'ModelSpec', 'BenchmarkOptions', 'plan_rows',
           'run_benchmark']
logger = logging.getLogger(__name__)


class Benchmark:
    """Runs the planned rows of one benchmark (see :func:`run_benchmark`): the models'
    inputs come from a :class:`~.models.ModelStore`, the timings from a
    :class:`~.measure.Measurer`, finished measurements from the cache."""

    def __init__(self, work_dir: str | Path, options: BenchmarkOptions,
                 progress_factory: Callable | None = None):
        self.work_dir = Path(work_dir)
        self.options = options
        self.cache = ResultCache(self.work_dir / 'cache', enabled=options.use_cache)
        self.store = ModelStore(self.work_dir, options)
        self.measure = Measurer(options, progress_factory)

    def run_row(self, row: Row) -> dict:
        row_start = time.perf_counter()
        spec = row.spec
        store, measure = self.store, self.measure
        cfg = store.config(spec)
        task = task_of(cfg).name
        dcfg = store.deploy_config(task)
        is_deployed = row.source is not None and backend_of(row.source) != 'pytorch'
        if is_deployed:  # it must come from this config's model, as in tools/test.py
            artifact = DeployedArtifact.of_file(row.source)
            artifact.check_model(row.source, cfg.model, task)
            dcfg = artifact.deploy_config(row.source) or dcfg
        wall: dict[str, float] = {}  # where this row's time went (report: wall_s)

        @contextmanager
        def phase(name):
            start = time.perf_counter()
            try:
                yield
            finally:
                wall[name] = time.perf_counter() - start

        with phase('deploy'):
            model_file, deploy_info = (store.deployed_file(row, cfg, dcfg)
                                       if row.backend != 'pytorch' else (None, {}))
        source = model_file if model_file is not None else store.checkpoint(spec)
        base_key = dict(name=spec.display_name, config=store.sha256(spec.config),
                        cfg_options=self.options.cfg_options, model=store.sha256(source),
                        backend=row.backend, precision=row.precision,
                        **({'quantizer': row.quantizer} if row.quantizer else {}),
                        device=self.options.device, profile=dcfg.to_dict()['profile'],
                        threads=self.options.threads)
        timing_key = dict(base_key, timing=self.options.timing.__dict__)
        dataset = store.dataset(cfg)
        first_image = dataset.get_data_info(0)['img_path']

        lazy: dict = {}

        def get_backend():
            if 'backend' not in lazy:
                lazy['backend'] = store.backend(row, cfg, dcfg, model_file)
                lazy['pipe'] = InferencePipeline(cfg, lazy['backend'], self.options.split,
                                                 deploy_cfg=dcfg)
            return lazy['backend'], lazy['pipe']

        label = f'{spec.display_name} {row.backend} {precision_label(row.precision, row.quantizer)}'
        hits, misses = self.cache.hits, self.cache.misses
        env, _ = self.cache.get_or_compute(
            'environment', timing_key, lambda: benchmark_environment(self.options.threads))
        complexity, _ = self.cache.get_or_compute(
            'complexity', dict(config=base_key['config'], cfg_options=base_key['cfg_options'],
                               shape=list(dcfg.opt_shape)),
            lambda: network_complexity(store.pytorch_model(cfg), dcfg.opt_shape))
        with phase('timing'):  # (the backend's session is created on first use, here)
            compute, _ = self.cache.get_or_compute(
                'compute_opt', dict(timing_key, image=first_image),
                lambda: measure.measure_compute(get_backend()[0],
                                                store.opt_input(cfg, dcfg, first_image),
                                                f'{label}: compute'))
            e2e, _ = self.cache.get_or_compute(
                'e2e_opt', dict(timing_key, image=first_image),
                lambda: measure.measure_e2e_opt(get_backend()[1],
                                                store.opt_item(dcfg, first_image),
                                                f'{label}: e2e'))
        with phase('evaluation'):
            data, _ = self.cache.get_or_compute(
                'data', dict(base_key, data=store.data_key(cfg, dataset)),
                lambda: measure.measure_data(cfg, get_backend()[1], dataset,
                                             f'{label}: images'))
        batch = None
        if self.options.batch is not None:
            n = self.options.batch
            check_batch(n, dcfg, spec.display_name)
            batch, _ = self.cache.get_or_compute(
                'compute_batch', dict(timing_key, image=first_image, batch=n),
                lambda: measure.measure_compute(
                    get_backend()[0], store.batch_input(cfg, dcfg, first_image, n),
                    f'{label}: compute at batch {n}'))
            batch = dict(batch, batch=n, per_image_ms=batch['mean_ms'] / n)
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
        if row.quantizer:
            result['quantizer'] = row.quantizer
        if batch is not None:
            result['compute_batch'] = batch
        if self.options.paired and row.backend != 'pytorch' and not is_deployed:
            result['paired'] = self.paired_row(row, cfg, dcfg, timing_key, first_image,
                                               get_backend)
        if self.options.with_static and row.backend != 'pytorch' and not is_deployed:
            result['static'] = self.static_row(row, cfg, dcfg, timing_key, first_image,
                                               model_file)
        # seconds this run spent on the row: deploying (export, verification), the timing
        # loops (compute and end to end at the opt shape) and the pass over the dataset
        # (evaluation); measurements reused from the cache cost next to nothing
        wall['total'] = time.perf_counter() - row_start
        result['wall_s'] = {k: round(v, 1) for k, v in wall.items()}
        # what a re-run of an interrupted benchmark skipped
        logger.info('%s: %d measurements reused from %s, %d measured', label,
                    self.cache.hits - hits, self.cache.root, self.cache.misses - misses)
        lazy.clear()
        return result

    def static_row(self, row: Row, cfg: Config, dcfg: DeployConfig, timing_key: dict,
                   first_image: str, dynamic_file: Path) -> dict:
        """Model compute of the dynamic graph and of a static graph exported at the opt
        shape, timed in alternation on the same input (dynamic-vs-static comparison)."""
        static_file, _ = self.store.deployed_file(row, cfg, dcfg, static=True)

        def measure():
            x = self.store.opt_input(cfg, dcfg, first_image)
            backends = [self.store.backend(row, cfg, dcfg, f)
                        for f in (dynamic_file, static_file)]
            return self.measure.alternate(('dynamic', 'static'), 'dynamic_over_static',
                                   [lambda b=b: b.compute_seconds(x) for b in backends],
                                   batch=x.shape[0])

        result, _ = self.cache.get_or_compute(
            'compute_static', dict(timing_key, image=first_image,
                                   static_iters=self.options.static_iters,
                                   static_model=self.store.sha256(static_file)), measure)
        return dict(result, model_file=str(static_file))

    def paired_row(self, row: Row, cfg: Config, dcfg: DeployConfig, timing_key: dict,
                   first_image: str, get_backend: Callable) -> dict:
        """End to end at the opt shape of PyTorch eager and of this row's backend,
        timed in alternation on the same image: the speed-up as the median over
        back-to-back pairs, robust to the machine's drift."""
        def measure():
            torch_row = Row(row.spec, 'pytorch', 'fp32', row.spec.model)
            pipes = [InferencePipeline(cfg, self.store.backend(torch_row, cfg, dcfg, None),
                                       self.options.split, deploy_cfg=dcfg),
                     get_backend()[1]]
            info = self.store.opt_item(dcfg, first_image)
            return self.measure.alternate(('pytorch', 'backend'), 'speedup_e2e',
                                   [lambda p=p: p(info, annotations=False)[1].total
                                    for p in pipes])

        result, _ = self.cache.get_or_compute(
            'paired_e2e', dict(timing_key, image=first_image,
                               pair_iters=self.options.static_iters,
                               pytorch_model=self.store.sha256(self.store.checkpoint(row.spec))),
            measure)
        return result


def check_batch(batch: int, dcfg: DeployConfig, name: str) -> None:
    """``--batch`` must lie in the deploy profile's batch range."""
    low, high = dcfg.min_shape[0], dcfg.max_shape[0]
    if not low <= batch <= high:
        where = f' ({dcfg.path})' if dcfg.path else ''
        raise BenchmarkError(
            f'--batch {batch} is outside the batch range {low}..{high} of the deploy '
            f'profile of {name}{where}; give a batch in it or a deploy config whose '
            'max_shape allows it (--deploy-cfg)')


def _backbone_name(cfg: Config) -> str:
    bb = cfg.model.backbone
    if bb.get('type') in ('TRTViT', 'trtvit_dense.TRTViT'):
        return f"TRT-ViT-{str(bb.get('arch', 'a')).upper()}"
    if bb.get('type') in ('NextViT', 'trtvit_dense.NextViT'):
        return f"Next-ViT-{str(bb.get('arch', 's')).upper()}"
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
    if options.batch is not None:  # refuse a batch outside a profile before measuring
        for row in rows:
            cfg = bench.store.config(row.spec)
            dcfg = bench.store.deploy_config(task_of(cfg).name)
            if row.source is not None and backend_of(row.source) != 'pytorch':
                dcfg = DeployedArtifact.of_file(row.source).deploy_config(row.source) or dcfg
            check_batch(options.batch, dcfg, row.spec.display_name)
    results = []
    for row in rows:
        result = bench.run_row(row)
        results.append(result)
        if on_row is not None:
            on_row(result)
    return add_speedups(results)
