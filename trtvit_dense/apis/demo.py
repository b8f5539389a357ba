"""The one-command demo (``make demo``, ``tools/demo.py``): the whole product on toy data.

Steps, each reused when a previous run finished it:

1. ``data``: generate the toy COCO and ADE20K datasets (``tools/make_toy_data.py``), and
   the toy ImageNet with ``pretrain``;
2. ``pretrain`` (``tools/demo.py --pretrain`` only): train the toy classifiers of both
   backbone families (TRT-ViT-A, ResNet-50 and mmseg's ResNetV1c-50) on the toy
   ImageNet, the same way;
3. ``train``: train Mask R-CNN, RetinaNet and UPerNet with TRT-ViT-A and the ResNet-50
   baseline on them for the toy configs' fixed schedules, from scratch or, with
   ``pretrain``, from the pretrained backbones (``--backbone-weights``); an interrupted
   training resumes from its last checkpoint;
4. ``benchmark``: the benchmark tool deploys every checkpoint to a dynamic ONNX graph,
   verifies it against PyTorch, evaluates PyTorch and ONNX Runtime on the same
   validation images (box/mask mAP, mIoU) and times both, then writes
   ``report.md``/``report.json``/``report.csv``/``pareto.png`` (the classifiers too,
   with ``pretrain``: top-1 next to latency);
5. ``targets``: the accuracy the trained TRT-ViT-A models must reach (toy bbox mAP >=
   50, toy mIoU >= 60) is checked on every backend's rows.
"""
from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from mmengine.config import Config

from ..utils.atomic import atomic_write_bytes

__all__ = ['DemoModel', 'DEMO_MODELS', 'PRETRAIN_MODELS', 'DEMO_DEPLOY_CONFIGS',
           'DEMO_TARGETS', 'DemoError', 'pretrained_models',
           'DemoResult', 'demo_benchmark_options',
           'make_demo_data', 'train_demo_model', 'train_demo_models', 'check_targets', 'run_demo']

logger = logging.getLogger(__name__)


class DemoError(RuntimeError):
    """A demo step failed or a trained model missed its accuracy target."""


@dataclass(frozen=True)
class DemoModel:
    """A model the demo trains; ``pretrained``: the name of the demo classifier whose
    checkpoint initialises its backbone (None: from scratch)."""
    name: str
    config: str
    pretrained: str | None = None


DEMO_MODELS = (
    DemoModel('mask-rcnn_trtvit-a', 'trtvit_dense::toy/mask-rcnn_trtvit-a_fpn_toy.py'),
    DemoModel('mask-rcnn_r50', 'trtvit_dense::toy/mask-rcnn_r50_fpn_toy.py'),
    DemoModel('retinanet_trtvit-a', 'trtvit_dense::toy/retinanet_trtvit-a_fpn_toy.py'),
    DemoModel('retinanet_r50', 'trtvit_dense::toy/retinanet_r50_fpn_toy.py'),
    DemoModel('upernet_trtvit-a', 'trtvit_dense::toy/upernet_trtvit-a_toy.py'),
    DemoModel('upernet_r50', 'trtvit_dense::toy/upernet_r50_toy.py'),
)
# the pretraining of --pretrain: one toy classifier per backbone of DEMO_MODELS (mmseg's
# UPerNet R50 has the ResNetV1c stem, so it gets its own)
PRETRAIN_MODELS = (
    DemoModel('classifier_trtvit-a', 'trtvit_dense::toy/classifier_trtvit-a_toy.py'),
    DemoModel('classifier_r50', 'trtvit_dense::toy/classifier_r50_toy.py'),
    DemoModel('classifier_r50-v1c', 'trtvit_dense::toy/classifier_r50-v1c_toy.py'),
)
# the classifiers the benchmark step scores and times (the V1c one only feeds UPerNet)
BENCHMARKED_CLASSIFIERS = ('classifier_trtvit-a', 'classifier_r50')
DEMO_DEPLOY_CONFIGS = {
    'detection': 'trtvit_dense::deploy/detection_dynamic-64x64-448x448.py',
    'segmentation': 'trtvit_dense::deploy/segmentation_dynamic-64x64-512x512.py',
    'classification': 'trtvit_dense::deploy/classification_dynamic-64x64-224x224.py',
}
# model name -> (accuracy key of the benchmark rows, minimum in percentage points)
DEMO_TARGETS = {
    'mask-rcnn_trtvit-a': ('bbox_mAP', 50.0),
    'retinanet_trtvit-a': ('bbox_mAP', 50.0),
    'upernet_trtvit-a': ('mIoU', 60.0),
}
DONE_FILE = 'demo_train.json'


def pretrained_models(models: Sequence[DemoModel] = DEMO_MODELS) -> tuple[DemoModel, ...]:
    """``models`` fine-tuned from the demo classifier of their backbone: TRT-ViT-A from
    ``classifier_trtvit-a``, the R50 detectors from ``classifier_r50``, the R50 UPerNet
    (ResNetV1c) from ``classifier_r50-v1c``."""
    def source(model: DemoModel) -> str:
        if 'trtvit-a' in model.name:
            return 'classifier_trtvit-a'
        return 'classifier_r50-v1c' if model.name.startswith('upernet') else 'classifier_r50'
    return tuple(DemoModel(m.name, m.config, source(m)) for m in models)


def make_demo_data(data_dir: str | Path = 'data', kinds: Sequence[str] = ('coco', 'ade')
                   ) -> dict:
    """Generate the toy datasets ``kinds`` (default arguments) under ``data_dir`` unless
    they are up to date; returns the per-dataset summaries."""
    from ..datasets import ensure_toy_dataset
    summaries = {}
    for kind in kinds:
        out = Path(data_dir) / f'toy_{kind}'
        summaries[kind], generated = ensure_toy_dataset(out, kind)
        if generated:
            logger.info('generated %s', out)
    return summaries


def _final_checkpoint(cfg: Config) -> str:
    loop = cfg.train_cfg
    if 'max_epochs' in loop:
        return f'epoch_{loop.max_epochs}.pth'
    return f'iter_{loop.max_iters}.pth'


def train_demo_model(model: DemoModel, work_dir: str | Path,
                     backbone_weights: str | None = None) -> dict:
    """Train ``model`` into ``work_dir`` (skipped when a previous run finished it, resumed
    from the last checkpoint when one was interrupted), its backbone initialised from
    ``backbone_weights`` when given; returns ``checkpoint``, ``train_s`` and whether it
    was ``reused``."""
    from ..config import load_config
    from .runner import prepare_train_config, train
    work_dir = Path(work_dir)
    done = work_dir / DONE_FILE
    if done.is_file():
        info = json.loads(done.read_text())
        if Path(info['checkpoint']).is_file():
            return dict(info, reused=True)
    cfg = load_config(model.config)
    # Evaluation happens once, in the benchmark step, on every backend with the same
    # images; validating during training would only repeat the PyTorch pass.
    cfg.train_cfg.val_interval = 10**9
    resume = 'auto' if (work_dir / 'last_checkpoint').is_file() else None
    prepare_train_config(cfg, model.config, work_dir=str(work_dir), resume=resume,
                         backbone_weights=backbone_weights)
    start = time.perf_counter()
    train(cfg)
    train_s = time.perf_counter() - start
    checkpoint = work_dir / _final_checkpoint(cfg)
    if not checkpoint.is_file():
        raise DemoError(f'training {model.name} ended without {checkpoint}')
    info = dict(name=model.name, config=model.config, checkpoint=str(checkpoint),
                train_s=round(train_s, 1), resumed=resume is not None,
                backbone_weights=backbone_weights)
    atomic_write_bytes(done, (json.dumps(info, indent=2) + '\n').encode())
    return dict(info, reused=False)


def _train_in_worker(model: DemoModel, work_dir: str, threads: int,
                     backbone_weights: str | None) -> dict:
    """:func:`train_demo_model` in a pool process: ``threads`` intra-op threads, its
    console output appended to ``<work_dir>/demo_train.log``."""
    import torch
    torch.set_num_threads(threads)
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(work_dir) / 'demo_train.log', 'a') as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    import trtvit_dense  # noqa: F401  (registers TRT-ViT and the safe checkpoint loading)
    return train_demo_model(model, work_dir, backbone_weights)


def train_demo_models(models: Sequence[DemoModel], work_dir: str | Path, jobs: int = 1,
                      on_step: Callable[[str], None] = print,
                      pretrained: dict | None = None) -> list[dict]:
    """Train every model into ``<work_dir>/<name>`` (see :func:`train_demo_model`);
    ``pretrained`` maps the classifier names of ``DemoModel.pretrained`` to their
    checkpoints.

    ``jobs`` > 1 trains that many models at once in separate processes, each with
    ``cpu_count // jobs`` threads: small-image training does not keep two cores busy
    from one process, so on 2 cores two single-threaded trainings finish sooner than
    the same two run one after the other. Their logs go to ``demo_train.log`` there."""
    work_dir = Path(work_dir)
    results: dict[str, dict] = {}
    weights = {m.name: (pretrained or {})[m.pretrained] if m.pretrained else None
               for m in models}
    if jobs <= 1:
        for i, model in enumerate(models):
            on_step(f'      training {model.name} ({i + 1}/{len(models)}): {model.config}')
            results[model.name] = train_demo_model(model, work_dir / model.name,
                                                   weights[model.name])
            on_step(f'      {_trained_line(results[model.name])}')
        return [results[m.name] for m in models]
    from concurrent.futures import ProcessPoolExecutor, as_completed
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context('spawn')) as pool:
        futures = {pool.submit(_train_in_worker, m, str(work_dir / m.name), threads,
                               weights[m.name]): m for m in models}
        on_step(f'      training {len(models)} models, {jobs} at a time with {threads} '
                f'thread(s) each; logs: {work_dir}/<model>/demo_train.log')
        for future in as_completed(futures):
            model = futures[future]
            try:
                results[model.name] = future.result()
            except Exception as e:
                raise DemoError(f'training {model.name} ({model.config}) failed: {e}; see '
                                f'{work_dir / model.name / "demo_train.log"}') from e
            on_step(f'      {_trained_line(results[model.name])}')
    return [results[m.name] for m in models]


def _trained_line(info: dict) -> str:
    how = 'reused' if info['reused'] else f"trained in {info['train_s']:.0f} s"
    return f"{info['name']}: {info['checkpoint']} ({how})"


def check_targets(rows: Sequence[dict], targets: dict = DEMO_TARGETS) -> list[str]:
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


@dataclass
class DemoResult:
    rows: list
    reports: dict
    train: list
    step_s: dict = field(default_factory=dict)
    misses: list = field(default_factory=list)


def run_demo(work_dir: str | Path = 'work_dirs/demo', data_dir: str | Path = 'data',
             models: Sequence[DemoModel] = DEMO_MODELS, options=None,
             on_step: Callable[[str], None] = print, jobs: int = 1,
             pretrain: bool = False) -> DemoResult:
    """Run the demo's steps (see the module docstring); returns rows, report paths,
    training summaries, the wall time of each step and the missed targets. ``pretrain``
    adds the pretraining step and fine-tunes ``models`` from it."""
    from ..benchmark import ModelSpec, compare_table, run_benchmark, write_reports
    work_dir = Path(work_dir)
    options = options or demo_benchmark_options()
    step_s = {}
    steps = 4 if pretrain else 3

    start = time.perf_counter()
    on_step(f'[1/{steps}] toy datasets in {data_dir}/')
    make_demo_data(data_dir, ('coco', 'ade', 'imagenet') if pretrain else ('coco', 'ade'))
    step_s['data'] = time.perf_counter() - start

    classifiers, weights = [], {}
    if pretrain:
        start = time.perf_counter()
        on_step(f'[2/{steps}] pretraining {len(PRETRAIN_MODELS)} backbones on the toy '
                'ImageNet')
        classifiers = train_demo_models(PRETRAIN_MODELS, work_dir / 'pretrain', jobs, on_step)
        weights = {c['name']: c['checkpoint'] for c in classifiers}
        step_s['pretrain'] = time.perf_counter() - start
        models = pretrained_models(models)

    start = time.perf_counter()
    how = 'from the pretrained backbones' if pretrain else 'from scratch'
    on_step(f'[{steps - 1}/{steps}] training {len(models)} models on the toy data {how}')
    trained = train_demo_models(models, work_dir / 'train', jobs, on_step, weights)
    step_s['train'] = time.perf_counter() - start

    start = time.perf_counter()
    on_step(f'[{steps}/{steps}] deploy to dynamic ONNX, verify, evaluate and time PyTorch '
            'and ONNX Runtime on the toy validation images')
    specs = [ModelSpec(m.config, info['checkpoint'], m.name) for m, info in zip(models, trained)]
    specs += [ModelSpec(m.config, info['checkpoint'], m.name)
              for m, info in zip(PRETRAIN_MODELS, classifiers)
              if m.name in BENCHMARKED_CLASSIFIERS]
    rows = run_benchmark(specs, work_dir, options, on_row=lambda r: on_step(_row_line(r)))
    step_s['benchmark'] = time.perf_counter() - start
    misses = check_targets(rows)
    extra = ('## TRT-ViT-A vs ResNet-50 (same detector/segmentor, schedule and images)\n\n'
             + compare_table(rows) + '\n\n'
             + _summary_md(classifiers + trained, step_s, misses, pretrain))
    title = 'trtvit-dense demo (toy data, CPU' + (', pretrained backbones)' if pretrain
                                                  else ')')
    reports = write_reports(rows, work_dir, title=title, extra_md=extra,
                            extra_json=dict(demo=dict(train=trained, pretrain=classifiers,
                                                      step_s=step_s, misses=misses)))
    return DemoResult(rows, reports, trained, step_s, misses)


def demo_benchmark_options(**overrides):
    """The demo's benchmark settings: PyTorch and ONNX Runtime, the toy deploy
    profiles, every validation image, and a short timing loop."""
    from ..benchmark import BenchmarkOptions, TimingSettings
    settings = dict(backends=('pytorch', 'onnxruntime'), deploy_configs=DEMO_DEPLOY_CONFIGS,
                    split='test', timing=TimingSettings(warmup_s=0.5, warmup_iters=2, iters=10,
                                                        min_duration_s=1.0))
    settings.update(overrides)
    return BenchmarkOptions(**settings)


def _row_line(row: dict) -> str:
    from ..benchmark.report import accuracy_text
    return (f"      {row['name']} {row['backend']}: e2e {row['e2e_opt']['mean_ms']:.1f} ms; "
            f'{accuracy_text(row)}')


def _summary_md(trained: list, step_s: dict, misses: list, pretrain: bool = False) -> str:
    from ..utils.markdown import markdown_table
    how = ('the classifiers from scratch, the others from their backbone' if pretrain
           else 'from scratch')
    table = markdown_table(
        ['model', 'config', 'training s'],
        [[t['name'], t['config'], f"{t['train_s']:.0f}" + (' (earlier run)' if t['reused']
                                                          else '')] for t in trained],
        title=f'Training (toy schedules, {how}, this machine)')
    steps = ', '.join(f'{k} {v:.0f} s' for k, v in step_s.items())
    steps += f', total {sum(step_s.values()) / 60:.1f} min'
    targets = ('All accuracy targets met: ' if not misses else 'Missed targets: ' +
               '; '.join(misses) + '. Targets: ') + ', '.join(
        f'{name} {key} >= {minimum:g}' for name, (key, minimum) in DEMO_TARGETS.items())
    return f'{table}\n\nWall time of this run: {steps}.\n\n{targets}.'
