"""How long a comparison will take on this machine, from a few measured steps
(``tools/compare.py --check-only``).

For each written config one training step (after one warm-up step) runs on a real batch
of its training data, at its input scale and batch size, with the threads a training
gets when ``jobs`` run at once; one validation step runs on one validation image. The
estimate is the measured step times the schedule's iterations (divided among the
trainings that run at once), and the validation step times the images each backend and
precision evaluates. It leaves out data loading in worker processes, exporting and
verifying, and the timing repeats: the full run takes somewhat longer.
"""
from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass

__all__ = ['StepTimes', 'measure_steps', 'schedule_iterations', 'estimate_run_s']


@dataclass(frozen=True)
class StepTimes:
    train_step_s: float   # one training iteration (a batch of the config's size)
    test_image_s: float   # one validation image through the model (eval mode)
    threads: int


def measure_steps(config: str, threads: int | None = None, device: str = 'cpu') -> StepTimes:
    """Time one training step and one validation image of ``config`` on its own data."""
    import torch
    from mmengine.dataset import pseudo_collate
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DATASETS, FUNCTIONS, MODELS, DefaultScope

    from ..config import load_config
    cfg = load_config(config)
    threads = threads or torch.get_num_threads()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with _quiet(), DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmdet')):
            model = MODELS.build(cfg.model).to(device)
            if hasattr(model, 'init_weights'):
                model.init_weights()

            def batch(loader, size):
                dataset = DATASETS.build(loader.dataset)
                collate = (loader.get('collate_fn') or {}).get('type', 'pseudo_collate')
                collate_fn = FUNCTIONS.get(collate) if isinstance(collate, str) else pseudo_collate
                return collate_fn([dataset[i % len(dataset)] for i in range(size)])

            optim = build_optim_wrapper(model, cfg.optim_wrapper)
            data = batch(cfg.train_dataloader, cfg.train_dataloader.batch_size)
            model.train()
            model.train_step(data, optim)  # warm-up: allocations, lazy inits
            start = time.perf_counter()
            model.train_step(data, optim)
            train_s = time.perf_counter() - start
            model.eval()
            val = batch(cfg.val_dataloader, 1)
            with torch.no_grad():
                model.val_step(val)
                start = time.perf_counter()
                model.val_step(val)
                test_s = time.perf_counter() - start
    finally:
        torch.set_num_threads(before)
    return StepTimes(train_s, test_s, threads)


@contextlib.contextmanager
def _quiet():
    """No INFO lines of mmengine (the optimizer's parameter groups, the weight
    initialisation) and no prints of pycocotools while measuring."""
    import io
    import logging

    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)


def schedule_iterations(config: str, train_images: int) -> int:
    """The training iterations of ``config`` on ``train_images`` images."""
    from ..config import load_config
    cfg = load_config(config)
    loop = cfg.train_cfg
    if 'max_iters' in loop:
        return int(loop.max_iters)
    subset = cfg.train_dataloader.dataset.get('indices')
    images = min(train_images, subset) if isinstance(subset, int) else train_images
    return int(loop.max_epochs) * max(1, math.ceil(images / cfg.train_dataloader.batch_size))


def estimate_run_s(steps: dict, iterations: dict, val_images: int, rows_per_model: int,
                   jobs: int) -> dict:
    """``{'train': s, 'benchmark': s}``: the trainings (``jobs`` at a time, longest
    first) and the evaluations of every model on ``rows_per_model`` backends/precisions."""
    train = sorted((steps[n].train_step_s * iterations[n] for n in steps), reverse=True)
    running = [0.0] * max(1, jobs)
    for t in train:  # each next training starts on the first free slot
        running[running.index(min(running))] += t
    bench = sum(s.test_image_s * val_images * rows_per_model for s in steps.values())
    return dict(train=max(running), benchmark=bench)


def default_threads(jobs: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, jobs))
