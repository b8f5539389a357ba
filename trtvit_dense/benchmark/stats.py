"""Latency statistics and the timing loop, with trtexec's semantics.

:func:`time_loop` warms up until both a minimum time and a minimum count are reached,
then runs at least ``iters`` timed iterations and at least ``min_duration_s`` seconds
(trtexec's ``--warmUp``, ``--iterations`` and ``--duration``). Each iteration's time
comes from the callable itself when it returns one (a GPU engine timed with CUDA
events), otherwise from ``time.perf_counter`` around the call.

:func:`summarize` reports what trtexec reports: mean, median, p90, p95, p99, min, max
and throughput. Percentiles use the nearest-rank definition (the smallest sample that
at least p% of the samples do not exceed), so every reported value is a measured one.
Throughput is images per second of wall time over the timed phase (batch x
iterations / elapsed), which on a GPU also counts host gaps between launches.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

__all__ = ['LatencyStats', 'percentile', 'summarize', 'time_loop', 'time_interleaved',
           'TimingSettings']

PERCENTILES = (90, 95, 99)


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile: ``sorted(samples)[ceil(p / 100 * n) - 1]``."""
    if not len(samples):
        raise ValueError('percentile of an empty sample')
    if not 0 < p <= 100:
        raise ValueError(f'percentile must be in (0, 100], got {p}')
    ordered = sorted(samples)
    return float(ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)])


@dataclass
class LatencyStats:
    """Latency in milliseconds over ``count`` timed iterations."""
    count: int
    mean_ms: float
    median_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    min_ms: float
    max_ms: float
    throughput: float  # images per second

    def to_dict(self) -> dict:
        return asdict(self)


def summarize(samples_s: Sequence[float], batch: int = 1,
              wall_s: float | None = None) -> LatencyStats:
    """Statistics of per-iteration times (seconds). ``wall_s`` is the elapsed time of
    the timed phase (default: the sum of the samples)."""
    if not len(samples_s):
        raise ValueError('no timing samples to summarize')
    if any(s < 0 or not math.isfinite(s) for s in samples_s):
        raise ValueError('timing samples must be finite and non-negative')
    ordered = sorted(samples_s)
    n = len(ordered)
    mid = n // 2
    median = ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    wall = float(sum(ordered)) if wall_s is None else float(wall_s)
    ms = 1e3
    return LatencyStats(
        count=n, mean_ms=sum(ordered) / n * ms, median_ms=median * ms,
        p90_ms=percentile(ordered, 90) * ms, p95_ms=percentile(ordered, 95) * ms,
        p99_ms=percentile(ordered, 99) * ms, min_ms=ordered[0] * ms,
        max_ms=ordered[-1] * ms, throughput=batch * n / wall if wall > 0 else math.inf)


def _seconds(measured, host_seconds: float) -> float:
    """The sample of one call: the function's own seconds, else the host time."""
    if measured is None:
        return host_seconds
    if isinstance(measured, bool) or not isinstance(measured, (int, float)):
        raise TypeError('a timed function returns None or its own measured seconds, got '
                        f'{type(measured).__name__}; wrap calls whose result is not a time')
    return float(measured)


@dataclass(frozen=True)
class TimingSettings:
    """trtexec-like loop settings (its defaults: 200 ms warm-up, 10 iterations, 3 s)."""
    warmup_s: float = 0.2
    warmup_iters: int = 1
    iters: int = 10
    min_duration_s: float = 0.0

    def __post_init__(self):
        if self.iters < 1:
            raise ValueError(f'iters must be >= 1, got {self.iters}')
        if self.warmup_iters < 0 or self.warmup_s < 0 or self.min_duration_s < 0:
            raise ValueError('warm-up and duration settings must be >= 0')


def _warm_up(fn: Callable, settings: TimingSettings, clock: Callable[[], float]) -> None:
    """Call ``fn`` until both ``warmup_iters`` calls and ``warmup_s`` seconds are done."""
    start, done = clock(), 0
    while done < settings.warmup_iters or clock() - start < settings.warmup_s:
        fn()
        done += 1


def time_loop(fn: Callable[[], float | None], settings: TimingSettings = TimingSettings(),
              batch: int = 1, progress: Callable[[int], None] | None = None,
              clock: Callable[[], float] = time.perf_counter) -> tuple[LatencyStats, list]:
    """Warm up, then time ``fn``; returns the statistics and the raw samples (s).

    ``fn`` may return its own measured seconds (device time); ``progress(k)`` is called
    after each timed iteration."""
    _warm_up(fn, settings, clock)
    samples = []
    start = clock()
    while len(samples) < settings.iters or clock() - start < settings.min_duration_s:
        t0 = clock()
        measured = fn()
        t1 = clock()
        samples.append(_seconds(measured, t1 - t0))
        if progress is not None:
            progress(len(samples))
    return summarize(samples, batch, wall_s=clock() - start), samples


def time_interleaved(fns: Sequence[Callable[[], float | None]],
                     settings: TimingSettings = TimingSettings(), batch: int = 1,
                     clock: Callable[[], float] = time.perf_counter
                     ) -> tuple[list[LatencyStats], list[list[float]]]:
    """Time several functions in alternation (a, b, a, b, ...) so that drift of the
    machine (frequency, other load) affects each the same; for A/B comparisons such as
    a dynamic against a static graph. Each function is warmed up as in
    :func:`time_loop`; ``throughput`` uses the function's own summed time. Returns the
    statistics and the raw samples (s) of each function, in call order."""
    for fn in fns:
        _warm_up(fn, settings, clock)
    samples: list[list[float]] = [[] for _ in fns]
    start = clock()
    while len(samples[0]) < settings.iters or clock() - start < settings.min_duration_s:
        for fn, own in zip(fns, samples):
            t0 = clock()
            measured = fn()
            own.append(_seconds(measured, clock() - t0))
    return [summarize(own, batch) for own in samples], samples
