"""The TensorRT acceptance run for a CUDA machine (``tools/analysis/tensorrt_check.py``).

For the demo's four TRT-ViT-A models (Mask R-CNN, RetinaNet, UPerNet on the toy data and
the toy classifier of ``tools/demo.py --pretrain``; the demo's trained checkpoints when
the demo folder has them, else seeded random weights) and each precision it

1. deploys a TensorRT engine with ``tools/deploy.py``'s pipeline (fp16 from the fp16
   graph, int8 from the QDQ graph of the TensorRT default quantizer, NVIDIA ModelOpt,
   calibrated on the train split) and verifies it against PyTorch at every verification
   shape of the toy deploy profile (six shapes);
2. scores it with the config's mmdet/mmseg/mmpretrain evaluator on the toy validation images and
   times it (model compute and end to end at the opt shape, the data pass), next to the
   PyTorch row of the same weights, through the benchmark;
3. keeps, per model, the int8 engine only when its compute measures faster than the
   fp16 engine's on this GPU (:func:`int8_choices`): the report says which engine to
   deploy and why (int8 engines whose Q/DQ placement forces reformat layers run slower
   than fp16, docs/quantization.md), ``engines.json`` maps each model to it;
4. writes ``report.md`` / ``report.json`` (and the benchmark's files) into the work dir.

It fails (:class:`CheckFailed`, exit status 1) on any verification failure, on an
accuracy that differs from PyTorch by more than :data:`ACCURACY_TOLERANCE` points, and
when the whole run takes longer than its time budget (10 minutes by default).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from ..utils.atomic import atomic_write_bytes
from ..utils.markdown import markdown_table
from .demo import (DEMO_DEPLOY_CONFIGS, DEMO_MODELS, DONE_FILE, PRETRAIN_MODELS,
                   make_demo_data)

__all__ = ['ACCURACY_TOLERANCE', 'CheckFailed', 'CheckResult', 'check_models',
           'run_tensorrt_check', 'format_check', 'int8_choices']

# largest |TensorRT - PyTorch| of the headline metric, in points, per precision: fp32 is
# the same computation (TF32 off), fp16 and int8 round
ACCURACY_TOLERANCE = {'fp32': 0.5, 'fp16': 1.0, 'int8': 2.0}
CHECK_MODELS = tuple(m for m in (*DEMO_MODELS, *PRETRAIN_MODELS) if 'trtvit' in m.name)


class CheckFailed(RuntimeError):
    """The acceptance run found a mismatch (named in the message)."""


@dataclass
class CheckResult:
    rows: list = field(default_factory=list)  # one per model x precision
    failures: list = field(default_factory=list)
    choices: list = field(default_factory=list)  # int8_choices(rows)
    seconds: float = 0.0
    report: Path | None = None


def check_models(demo_dir: str | Path = 'work_dirs/demo') -> list[tuple]:
    """``(model, checkpoint or None)`` of the checked models: the demo's trained
    checkpoint where ``demo_dir`` has one, else None (seeded random weights)."""
    found = []
    for model in CHECK_MODELS:
        step = 'pretrain/train' if model in PRETRAIN_MODELS else 'train'
        done = Path(demo_dir) / step / model.name / DONE_FILE
        checkpoint = None
        if done.is_file():
            checkpoint = json.loads(done.read_text()).get('checkpoint')
            checkpoint = checkpoint if checkpoint and Path(checkpoint).is_file() else None
        found.append((model, checkpoint))
    return found


def int8_choices(rows: Sequence[dict]) -> list[dict]:
    """Per model with an fp16 and an int8 row: the engine to deploy. int8 is kept only
    when it passed (verification and accuracy) and its compute median is below the fp16
    engine's; otherwise fp16 (when it passed) with the reason."""
    by_model: dict = {}
    for r in rows:
        by_model.setdefault(r['model'], {})[r['precision']] = r
    choices = []
    for model, found in by_model.items():
        fp16, int8 = found.get('fp16'), found.get('int8')
        if fp16 is None or int8 is None:
            continue
        a, b = fp16.get('compute_ms'), int8.get('compute_ms')
        speedup = a / b if a and b else None
        if not int8['passed']:
            keep, why = 'fp16', 'the int8 engine failed its checks'
        elif speedup is None:
            keep, why = 'fp16', 'no int8/fp16 timing'
        elif speedup > 1.0:
            keep, why = 'int8', f'int8 is {speedup:.2f}x faster than fp16'
        else:
            keep, why = 'fp16', (f'int8 is not faster than fp16 ({b:.2f} ms vs {a:.2f} ms): '
                                 'its Q/DQ placement costs more than int8 kernels save')
        if keep == 'fp16' and not fp16['passed']:
            keep, why = None, why + '; the fp16 engine failed its checks too'
        choices.append(dict(model=model, keep=keep, why=why, quantizer=int8.get('quantizer'),
                            fp16_ms=a, int8_ms=b, fp16_over_int8=speedup,
                            engine=found[keep].get('engine') if keep else None))
    return choices


def format_check(result: CheckResult, environment: dict) -> str:
    """The report: one row per model x precision, the engine kept per model (int8 only
    where it beats fp16), then what failed."""
    head = ['model', 'weights', 'precision', 'verified shapes', 'metric', 'PyTorch',
            'TensorRT', 'difference', 'compute ms', 'e2e ms', 'result']
    cells = [[r['model'], r['weights'], r['precision'], r['verified'], r['metric'],
              _points(r['pytorch']), _points(r['tensorrt']), _points(r['difference'], '+'),
              _ms(r['compute_ms']), _ms(r['e2e_ms']), 'PASS' if r['passed'] else 'FAIL']
             for r in result.rows]
    lines = ['# TensorRT acceptance run', '',
             f"TensorRT {environment.get('tensorrt')} on {environment.get('gpu')}, "
             f"torch {environment.get('torch')}; {result.seconds:.0f} s in all.", '',
             markdown_table(head, cells), '']
    if result.choices:
        lines += ['## The engine to deploy: int8 only where it beats fp16 on this GPU', '',
                  markdown_table(
                      ['model', 'int8 quantizer', 'fp16 compute ms', 'int8 compute ms',
                       'fp16/int8', 'kept', 'why'],
                      [[c['model'], c['quantizer'] or '-', _ms(c['fp16_ms']), _ms(c['int8_ms']),
                        '-' if c['fp16_over_int8'] is None else f"{c['fp16_over_int8']:.2f}x",
                        c['keep'] or 'none', c['why']] for c in result.choices]), '']
    lines += (['**Failed:**', ''] + [f'- {f}' for f in result.failures]
              if result.failures else ['All checks passed.'])
    return '\n'.join(lines) + '\n'


def _points(value, sign: str = '') -> str:
    return '-' if value is None else f'{value:{sign}.2f}'


def _ms(value) -> str:
    return '-' if value is None else f'{value:.1f}'


def run_tensorrt_check(work_dir: str | Path = 'work_dirs/tensorrt_check',
                       precisions: Sequence[str] = ('fp32', 'fp16', 'int8'),
                       demo_dir: str | Path = 'work_dirs/demo', budget_s: float = 600.0,
                       on_step: Callable[[str], None] = print,
                       quantizer: str | None = None) -> CheckResult:
    """Run the acceptance check (see the module docstring); raises
    :class:`~trtvit_dense.deploy.backends.BackendUnavailable` at once without TensorRT
    or CUDA, and :class:`CheckFailed` after writing the report when anything failed."""
    from ..benchmark import BenchmarkOptions, ModelSpec, TimingSettings, run_benchmark
    from ..benchmark.models import ModelStore
    from ..config import load_config, task_of
    from ..deploy.backends import check_backend
    from ..deploy.backends.tensorrt import import_tensorrt
    from ..deploy.pipeline import DeployError, deploy
    from ..deploy.precision import check_precision
    from ..tasks import get_task
    from ..deploy.quantize.quantizers import QUANTIZERS, check_quantizer, default_quantizer
    for precision in precisions:
        check_precision(precision, '--precisions')
    quantizer = check_quantizer(quantizer or default_quantizer('tensorrt'))
    if 'int8' in precisions and QUANTIZERS[quantizer].available() is None:
        from ..deploy.quantize.modelopt import check_modelopt
        try:  # the install line, before anything is written
            check_modelopt()
        except ImportError as e:
            raise DeployError(str(e)) from None
    check_backend('tensorrt', 'cuda')  # TensorRT and a GPU, before anything is written
    import torch
    start = time.perf_counter()
    work_dir = Path(work_dir)
    make_demo_data(kinds=('coco', 'ade', 'imagenet'))  # data/toy_*, as the toy configs read
    result = CheckResult()
    references, specs, planned = [], [], []
    for model, checkpoint in check_models(demo_dir):
        task = task_of(load_config(model.config)).name
        weights = 'demo' if checkpoint else 'random (seed 0)'
        if checkpoint is None:  # seeded random weights, written once (as the benchmark's)
            checkpoint = str(ModelStore(work_dir, BenchmarkOptions()).checkpoint(
                ModelSpec(model.config, None, model.name)))
        references.append(ModelSpec(model.config, checkpoint, f'{model.name} pytorch'))
        for precision in precisions:
            on_step(f'deploying {model.name} to a {precision} engine')
            out = work_dir / 'deploy' / f'{model.name}-{precision}'
            deployed = deploy(model.config, checkpoint, DEMO_DEPLOY_CONFIGS[task], out,
                              backend='tensorrt', precision=precision, device='cuda',
                              calib_data='train' if precision == 'int8' else None,
                              quantizer=quantizer if precision == 'int8' else None)
            passed = sum(r.passed for r in deployed.verify)
            planned.append(dict(model=model.name, task=task, precision=precision,
                                weights=weights, engine=str(deployed.files['engine']),
                                quantizer=quantizer if precision == 'int8' else None,
                                verified=f'{passed}/{len(deployed.verify)}',
                                verify_passed=deployed.passed))
            if not deployed.passed:
                result.failures.append(f'{model.name} {precision}: the engine does not match '
                                       f'PyTorch at {len(deployed.verify) - passed} of '
                                       f'{len(deployed.verify)} shapes (see {out}/manifest.json)')
            specs.append(ModelSpec(model.config, str(deployed.files['engine']),
                                   f'{model.name} {precision}'))
    on_step('scoring and timing every engine next to PyTorch')
    rows = {}
    for backend, models in (('pytorch', references), ('tensorrt', specs)):
        options = BenchmarkOptions(backends=(backend, ), device='cuda',
                                   deploy_configs=DEMO_DEPLOY_CONFIGS, verify=False,
                                   timing=TimingSettings(warmup_s=0.5, iters=20))
        rows.update((r['name'], r) for r in run_benchmark(
            models, work_dir / 'benchmark' / backend, options))
    for plan in planned:
        reference = rows[f"{plan['model']} pytorch"]
        row = rows[f"{plan['model']} {plan['precision']}"]
        metric = get_task(plan['task']).primary_metric
        ours, theirs = row['accuracy'].get(metric), reference['accuracy'].get(metric)
        difference = None if ours is None or theirs is None else ours - theirs
        tolerance = ACCURACY_TOLERANCE[plan['precision']]
        ok = plan['verify_passed'] and difference is not None and abs(difference) <= tolerance
        if difference is None:
            result.failures.append(f"{plan['model']} {plan['precision']}: no {metric}")
        elif abs(difference) > tolerance:
            result.failures.append(f"{plan['model']} {plan['precision']}: {metric} "
                                   f'{ours:.2f} vs PyTorch {theirs:.2f} (more than '
                                   f'{tolerance} points apart)')
        result.rows.append(dict(plan, metric=metric, pytorch=theirs, tensorrt=ours,
                                difference=difference, passed=ok,
                                compute_ms=row['compute_opt']['median_ms'],
                                e2e_ms=row['e2e_opt']['median_ms']))
    result.choices = int8_choices(result.rows)
    atomic_write_bytes(work_dir / 'engines.json', (json.dumps(
        {c['model']: dict(precision=c['keep'], engine=c['engine'], why=c['why'])
         for c in result.choices}, indent=1) + '\n').encode())
    result.seconds = time.perf_counter() - start
    if result.seconds > budget_s:
        result.failures.append(f'the run took {result.seconds:.0f} s, over its '
                               f'{budget_s:.0f} s budget')
    environment = dict(tensorrt=str(import_tensorrt().__version__), torch=torch.__version__,
                       gpu=torch.cuda.get_device_name())
    text = format_check(result, environment)
    result.report = atomic_write_bytes(work_dir / 'report.md', text.encode())
    atomic_write_bytes(work_dir / 'report.json', (json.dumps(dict(
        environment=environment, rows=result.rows, int8_choices=result.choices,
        failures=result.failures, seconds=result.seconds), indent=1) + '\n').encode())
    on_step(text)
    if result.failures:
        raise CheckFailed(f'{len(result.failures)} TensorRT checks failed (see '
                          f'{result.report}): ' + '; '.join(result.failures))
    return result
