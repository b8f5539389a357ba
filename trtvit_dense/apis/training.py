"""Training several models for a comparison (the compare command and the demo): one
record per finished training, reuse of finished ones, resume of interrupted ones, two at
a time in worker processes with a progress line per running training, and the
accuracy targets a run must meet.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from mmengine.config import Config

from ..utils.atomic import atomic_write_bytes

__all__ = ['TrainingError', 'TrainJob', 'DONE_FILE', 'LOG_FILE', 'PROGRESS_FILE',
           'PROGRESS_EVERY_S', 'train_model', 'train_models', 'check_targets', 'last_log_line']


class TrainingError(RuntimeError):
    """A training of the compare command (or the demo) failed or was refused; the message
    is one line naming the model, the cause and the log."""


@dataclass(frozen=True)
class TrainJob:
    """A model to train: its name and config; ``pretrained``: the key of its backbone
    weights in :func:`train_models`' ``pretrained`` mapping (None: from scratch)."""
    name: str
    config: str
    pretrained: str | None = None


DONE_FILE = 'training.json'  # the record of a finished training
LOG_FILE = 'training.log'  # a worker's console output
CONFIG_STAMP = 'config.sha256'  # the config a training in progress was started with
PROGRESS_FILE = 'progress.json'  # engine.progress.ProgressFileHook, while training
PROGRESS_EVERY_S = 15.0  # a progress line per running training this often
NO_VALIDATION = 10**9  # val_begin / val_interval past any schedule



def _final_checkpoint(cfg: Config) -> str:
    loop = cfg.train_cfg
    if 'max_epochs' in loop:
        return f'epoch_{loop.max_epochs}.pth'
    return f'iter_{loop.max_iters}.pth'


def train_model(model: TrainJob, work_dir: str | Path,
                     backbone_weights: str | None = None, gpus: int = 1) -> dict:
    """Train ``model`` into ``work_dir`` (skipped when a previous run finished it, resumed
    from the last checkpoint when one was interrupted), its backbone initialised from
    ``backbone_weights`` when given; returns ``checkpoint``, ``train_s`` and whether it
    was ``reused``. A finished or interrupted training of another config (or other
    weights) in ``work_dir`` is refused, not reused or resumed. ``gpus`` > 1 trains with
    ``torchrun --nproc_per_node gpus`` running the checkout's ``tools/train.py``."""
    from ..config import load_config
    from .runner import prepare_train_config, train
    work_dir = Path(work_dir)
    done = work_dir / DONE_FILE
    cfg = load_config(model.config)
    # what was trained: the resolved config and the backbone weights
    digest = hashlib.sha256((cfg.pretty_text + str(backbone_weights)).encode()).hexdigest()
    stamp = work_dir / CONFIG_STAMP
    if done.is_file():
        info = json.loads(done.read_text())
        if info.get('config_sha256', digest) != digest:
            raise TrainingError(f'training {model.name} refused: {work_dir} holds a training '
                                f'of another config than {model.config} (changed since); '
                                f'delete {work_dir} to train it again, or give another '
                                'work dir')
        if Path(info['checkpoint']).is_file():
            return dict(info, reused=True)
    if ((work_dir / 'last_checkpoint').is_file() and stamp.is_file()
            and stamp.read_text().strip() != digest):
        raise TrainingError(f'training {model.name} refused: {work_dir} holds an '
                            f'interrupted training of another config than {model.config}; '
                            f'delete {work_dir} to start it afresh')
    atomic_write_bytes(stamp, (digest + '\n').encode())
    resume = 'auto' if (work_dir / 'last_checkpoint').is_file() else None
    start = time.perf_counter()
    if gpus > 1:
        _torchrun(model, work_dir, gpus, resume is not None, backbone_weights)
    else:
        # Evaluation happens once, in the benchmark step, on every backend with the same
        # images; validating during training would only repeat the PyTorch pass. mmengine's
        # loops validate at the last epoch / iteration whatever the interval, from
        # val_begin on: both go past the schedule.
        cfg.train_cfg.val_interval = cfg.train_cfg.val_begin = NO_VALIDATION
        prepare_train_config(cfg, model.config, work_dir=str(work_dir), resume=resume,
                             backbone_weights=backbone_weights)
        cfg.custom_hooks = [*cfg.get('custom_hooks', []),
                            dict(type='ProgressFileHook', path=str(work_dir / PROGRESS_FILE))]
        train(cfg)
    train_s = time.perf_counter() - start
    checkpoint = work_dir / _final_checkpoint(cfg)
    if not checkpoint.is_file():
        raise TrainingError(f'training {model.name} ended without {checkpoint}')
    # the loop's own time per iteration (train_s adds building the model and the data
    # loaders): what the demo report compares between machines
    from ..engine.progress import read_progress
    record = read_progress(work_dir / PROGRESS_FILE) or {}
    iterations = record.get('max_iters')
    loop_s = record.get('elapsed_s')
    info = dict(name=model.name, config=model.config, checkpoint=str(checkpoint),
                train_s=round(train_s, 1), resumed=resume is not None,
                backbone_weights=backbone_weights, config_sha256=digest,
                iterations=iterations,
                iteration_s=(round(loop_s / iterations, 3)
                             if iterations and loop_s is not None and resume is None else None))
    atomic_write_bytes(done, (json.dumps(info, indent=2) + '\n').encode())
    return dict(info, reused=False)


def _torchrun(model: TrainJob, work_dir: Path, gpus: int, resume: bool,
              backbone_weights: str | None) -> None:
    """``tools/train.py`` of the checkout under ``torchrun --nproc_per_node gpus``."""
    import subprocess
    import sys
    script = Path(__file__).resolve().parents[2] / 'tools' / 'train.py'
    if not script.is_file():
        raise TrainingError(f"--gpus needs the checkout's tools/train.py ({script} is absent)")
    argv = [sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={gpus}',
            str(script), model.config, '--launcher', 'pytorch', '--work-dir', str(work_dir),
            # no validation, as in one process (train_model says why)
            '--cfg-options', f'train_cfg.val_interval={NO_VALIDATION}',
            f'train_cfg.val_begin={NO_VALIDATION}']
    if resume:
        argv.append('--resume')
    if backbone_weights:
        argv += ['--backbone-weights', backbone_weights]
    subprocess.run(argv, check=True)


def _train_in_worker(model: TrainJob, work_dir: str, threads: int,
                     backbone_weights: str | None) -> dict:
    """:func:`train_model` in a pool process: ``threads`` intra-op threads, its
    console output appended to ``<work_dir>/training.log``."""
    import torch
    torch.set_num_threads(threads)
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(work_dir) / LOG_FILE, 'a') as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    import trtvit_dense  # noqa: F401  (registers TRT-ViT and the safe checkpoint loading)
    return train_model(model, work_dir, backbone_weights)


def train_models(models: Sequence[TrainJob], work_dir: str | Path, jobs: int = 1,
                      on_step: Callable[[str], None] = print,
                      pretrained: dict | None = None) -> list[dict]:
    """Train every model into ``<work_dir>/<name>`` (see :func:`train_model`);
    ``pretrained`` maps the classifier names of ``TrainJob.pretrained`` to their
    checkpoints.

    ``jobs`` > 1 trains that many models at once in separate processes, each with
    ``cpu_count // jobs`` threads: small-image training does not keep two cores busy
    from one process, so on 2 cores two single-threaded trainings finish sooner than
    the same two run one after the other. Their logs go to ``training.log`` there, and
    every :data:`PROGRESS_EVERY_S` seconds ``on_step`` gets one line per running training
    (epoch, iteration, loss, ETA; :mod:`trtvit_dense.engine.progress`)."""
    work_dir = Path(work_dir)
    results: dict[str, dict] = {}
    weights = {m.name: (pretrained or {})[m.pretrained] if m.pretrained else None
               for m in models}
    if jobs <= 1:
        for i, model in enumerate(models):
            on_step(f'      training {model.name} ({i + 1}/{len(models)}): {model.config}')
            try:
                results[model.name] = train_model(model, work_dir / model.name,
                                                  weights[model.name])
            except TrainingError:
                raise
            except Exception as e:
                raise _failed(model, work_dir / model.name, e) from e
            on_step(f'      {_trained_line(results[model.name])}')
        return [results[m.name] for m in models]
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    from ..engine.progress import progress_line, read_progress
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context('spawn')) as pool:
        futures = {pool.submit(_train_in_worker, m, str(work_dir / m.name), threads,
                               weights[m.name]): m for m in models}
        on_step(f'      training {len(models)} models, {jobs} at a time with {threads} '
                f'thread(s) each; logs: {work_dir}/<model>/{LOG_FILE}')
        pending, shown = set(futures), {}
        while pending:
            done, pending = wait(pending, timeout=PROGRESS_EVERY_S, return_when=FIRST_COMPLETED)
            for future in done:
                model = futures[future]
                try:
                    results[model.name] = future.result()
                except TrainingError:
                    raise
                except Exception as e:
                    raise _failed(model, work_dir / model.name, e) from e
                on_step(f'      {_trained_line(results[model.name])}')
            for future in pending:  # one line per running training, when it moved
                model = futures[future]
                record = read_progress(work_dir / model.name / PROGRESS_FILE)
                if record and not record.get('done') and record != shown.get(model.name):
                    shown[model.name] = record
                    on_step(f'      {progress_line(model.name, record)}')
    return [results[m.name] for m in models]


def _logs(work_dir: Path) -> list[Path]:
    """The logs of a training: the worker's console (appended to by every run), then
    mmengine's, newest first."""
    found = sorted(work_dir.glob('*/*.log'), key=lambda p: p.stat().st_mtime, reverse=True)
    return ([work_dir / LOG_FILE] if (work_dir / LOG_FILE).is_file() else []) + found


def last_log_line(path: str | Path, limit: int = 200) -> str:
    """The last meaningful line of a log: the exception line of a traceback, else the
    last line that is not blank, a progress bar or a warning (at most ``limit``
    characters); '' when there is none."""
    try:
        lines = Path(path).read_text(errors='replace').splitlines()
    except OSError:
        return ''
    for line in reversed(lines):
        text = line.strip()
        if not text or text.startswith(('warnings.warn', '^', '~')) or 'Warning:' in text:
            continue
        return text[:limit]
    return ''


def _failed(model: TrainJob, work_dir: Path, error: Exception) -> TrainingError:
    """One line: the model, the error, the log and its last meaningful line."""
    cause = f'{type(error).__name__}: {error}'.strip().splitlines()
    cause = cause[-1] if cause else type(error).__name__
    logs = _logs(work_dir)
    where = f'; see {logs[0]}' if logs else f'; see {work_dir}'
    tail = last_log_line(logs[0]) if logs else ''
    said = f' (the log ends: {tail})' if tail and tail not in cause else ''
    return TrainingError(f'training {model.name} failed: {cause[:300]}{said}{where}')


def _trained_line(info: dict) -> str:
    how = 'reused' if info['reused'] else f"trained in {info['train_s']:.0f} s"
    return f"{info['name']}: {info['checkpoint']} ({how})"


def check_targets(rows: Sequence[dict], targets: dict) -> list[str]:
    """One message per benchmark row of a targeted model that misses its target (or
    has no such metric); empty when all are met."""
    misses = []
    for row in rows:
        if row['name'] not in targets:
            continue
        key, minimum = targets[row['name']]
        value = row['accuracy'].get(key)
        if value is None or value < minimum:
            misses.append(f"{row['name']} on {row['backend']}: {key} "
                          f"{'missing' if value is None else f'{value:.1f}'} < {minimum:g}")
    return misses
