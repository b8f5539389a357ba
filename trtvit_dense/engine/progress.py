"""Training progress as a small JSON file, for a console that watches several runs.

:class:`ProgressFileHook` rewrites ``path`` (atomically) after every training iteration
with where the run is (``iter`` of ``max_iters``, ``epoch`` of ``max_epochs`` for
epoch-based loops), the last loss, the seconds since the run started and the ETA from
the mean iteration time, and marks it ``done`` after training. The demo and the compare
command (:mod:`trtvit_dense.apis.compare`) add it to each training run and print one line
per running model from these files; training itself is unchanged.
"""
from __future__ import annotations

import json
import time
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from ..utils.atomic import atomic_write_bytes

__all__ = ['ProgressFileHook', 'read_progress', 'progress_line']


@HOOKS.register_module()
class ProgressFileHook(Hook):
    """Write the run's progress to ``path`` after each training iteration."""

    priority = 'LOWEST'

    def __init__(self, path: str):
        self.path = path
        self._start: Optional[float] = None
        self._start_iter = 0

    def _write(self, runner, **extra) -> None:
        if not is_main_process():
            return
        loop = runner.train_loop
        # an iteration-based loop reports max_epochs=1: only epoch-based loops have epochs
        epochs = loop.max_epochs if 'Epoch' in type(loop).__name__ else None
        record = dict(iter=runner.iter, max_iters=loop.max_iters, epoch=runner.epoch,
                      max_epochs=epochs,
                      elapsed_s=round(time.time() - (self._start or time.time()), 1),
                      **extra)
        atomic_write_bytes(self.path, json.dumps(record).encode())

    def before_train(self, runner) -> None:
        self._start, self._start_iter = time.time(), runner.iter
        self._write(runner, loss=None, eta_s=None, done=False)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        loss = None
        if isinstance(outputs, dict) and 'loss' in outputs:
            loss = float(outputs['loss'].detach() if hasattr(outputs['loss'], 'detach') else outputs['loss'])
        done_iters = runner.iter + 1 - self._start_iter
        per_iter = (time.time() - self._start) / max(done_iters, 1)
        eta = per_iter * max(runner.train_loop.max_iters - runner.iter - 1, 0)
        self._write(runner, iter_now=runner.iter + 1, loss=loss, eta_s=round(eta, 1),
                    done=False)

    def after_train(self, runner) -> None:
        self._write(runner, iter_now=runner.iter, loss=None, eta_s=0.0, done=True)


def read_progress(path) -> Optional[dict]:
    """The last record of a :class:`ProgressFileHook` file, or None."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f'{seconds // 60}m{seconds % 60:02d}s' if seconds >= 60 else f'{seconds}s'


def progress_line(name: str, record: dict) -> str:
    """``"retinanet_r50: epoch 2/5, iter 60/225, loss 1.234, 1m10s, ETA 3m05s"``."""
    if record.get('done'):
        return f'{name}: done in {_duration(record.get("elapsed_s") or 0)}'
    now = record.get('iter_now', record.get('iter', 0))
    parts = []
    epochs = record.get('max_epochs')
    if epochs:
        per_epoch = max(record['max_iters'] // epochs, 1)
        parts.append(f'epoch {min(now // per_epoch + 1, epochs)}/{epochs}')
    parts.append(f'iter {now}/{record["max_iters"]}')
    if record.get('loss') is not None:
        parts.append(f'loss {record["loss"]:.3f}')
    parts.append(_duration(record.get('elapsed_s') or 0))
    if record.get('eta_s') is not None:
        parts.append(f'ETA {_duration(record["eta_s"])}')
    return f'{name}: ' + ', '.join(parts)
