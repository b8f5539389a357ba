"""The measurements of a benchmark row: model compute and end-to-end latency at the
opt shape, the pass over the dataset (latency and accuracy from the same predictions),
two functions timed in alternation (A/B), and the facts recorded next to them (the
environment, params and GMACs)."""
from __future__ import annotations

import os
from dataclasses import replace
from typing import Callable, Sequence

import numpy as np
import torch
from mmengine.config import Config

from ..config import task_of
from ..deploy.backends import Backend
from ..deploy.manifest import environment_versions
from .pipeline import STAGES, InferencePipeline, StageTimes
from .plan import BenchmarkOptions
from .stats import summarize, time_interleaved, time_loop

__all__ = ['Measurer', 'benchmark_environment', 'network_complexity']


def benchmark_environment(threads: int | None) -> dict:
    """:func:`environment_versions` plus the thread settings and the machine's load
    when the measurement started (contention makes CPU latency meaningless)."""
    env = environment_versions()
    env.update(cpu_count=os.cpu_count(), torch_threads=torch.get_num_threads(),
               threads=threads or 'default', loadavg_1min=round(os.getloadavg()[0], 2))
    return env


class _DenseNetwork(torch.nn.Module):
    """Backbone, neck and dense heads (RPN/RetinaNet head, decode head, a classifier's
    head) of a model: the part whose cost depends only on the input size."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        feats = self.model.extract_feat(x)
        outs = [feats]
        for name in ('rpn_head', 'bbox_head', 'decode_head', 'head'):  # 'head': a classifier
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


class Measurer:
    """Times backends and pipelines with the options' timing settings, showing a
    progress bar per measurement (``progress_factory(total, desc)`` replaces tqdm)."""

    def __init__(self, options: BenchmarkOptions, progress_factory: Callable | None = None):
        self.options = options
        self._progress_factory = progress_factory

    def _progress(self, total: int, desc: str):
        if self._progress_factory is not None:
            return self._progress_factory(total, desc)
        from tqdm import tqdm
        return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True,
                    disable=not self.options.progress)

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
                    accuracy=task_of(cfg).accuracy_points(metrics),
                    **_stage_summary(times))

    def alternate(self, names: tuple[str, str], ratio_name: str, fns: Sequence[Callable],
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
