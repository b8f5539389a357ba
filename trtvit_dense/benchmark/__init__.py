"""Benchmarks: latency next to accuracy per model x backend x precision
(:mod:`.runner`, ``tools/benchmark.py``), the backbone comparison (:mod:`.compare`) and
the paper's density analysis on the user's hardware (:mod:`.density`)."""
from .cache import ResultCache, cache_key
from .compare import BACKBONES, FAMILIES, compare_specs, compare_table
from .report import pareto_front, validate_row, write_reports
from .plan import BenchmarkError, BenchmarkOptions, ModelSpec, plan_rows
from .runner import run_benchmark
from .stats import LatencyStats, TimingSettings, percentile, summarize, time_loop

__all__ = ['ResultCache', 'cache_key', 'BACKBONES', 'FAMILIES', 'compare_specs',
           'compare_table', 'pareto_front', 'validate_row', 'write_reports',
           'BenchmarkError', 'BenchmarkOptions', 'ModelSpec', 'plan_rows', 'run_benchmark',
           'LatencyStats', 'TimingSettings', 'percentile', 'summarize', 'time_loop']
