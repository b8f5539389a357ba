"""The one-command demo (``make demo``, ``tools/demo.py``): the product's main command,
``tools/compare.py`` (:mod:`.compare`), on the embedded toy data.

1. generate the toy COCO and ADE20K datasets (``tools/make_toy_data.py``), and the toy
   ImageNet with ``pretrain``;
2. ``pretrain`` (``tools/demo.py --pretrain`` only): the compare command on the toy
   ImageNet for the toy classifiers of both backbone families (TRT-ViT-A, ResNet-50 and
   mmseg's ResNetV1c-50), into ``<work_dir>/pretrain`` (its own report);
3. the compare command on the toy COCO (Mask R-CNN, RetinaNet) and toy ADE20K (UPerNet)
   with TRT-ViT-A and the ResNet-50 baseline and the toy recipe: the data check, the
   written configs (inheriting ``configs/toy/``, their fixed schedules), training (from
   scratch or, with ``pretrain``, from the pretrained backbones), deploying to dynamic
   ONNX, verification against PyTorch, evaluation and timing on PyTorch and ONNX
   Runtime on the same validation images, and the report;
4. the accuracy the trained TRT-ViT-A models must reach (toy bbox mAP >= 50, toy mIoU
   >= 60) is checked on every backend's rows (:data:`DEMO_TARGETS`).

Every step is reused when a previous run finished it.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from ..models import zoo
from . import training
from .training import DONE_FILE, TrainingError, TrainJob, train_model, train_models

__all__ = ['TrainJob', 'DEMO_MODELS', 'DEMO_FAMILIES', 'DEMO_BACKBONES', 'PRETRAIN_MODELS', 'DEMO_DEPLOY_CONFIGS',
           'DEMO_TARGETS', 'DEMO_TIMING', 'TrainingError', 'demo_datasets',
           'DemoResult', 'demo_benchmark_options',
           'make_demo_data', 'train_model', 'train_models', 'check_targets', 'run_demo',
           'DONE_FILE']

logger = logging.getLogger(__name__)


DEMO_FAMILIES = ('mask_rcnn', 'retinanet', 'upernet')
DEMO_BACKBONES = ('trtvit-a', 'r50')


def _toy_job(family: str, backbone: str) -> TrainJob:
    """The registry's toy model of ``family`` with ``backbone`` (named as the compare
    command names it)."""
    return TrainJob(f'{zoo.get_family(family).prefix}_{backbone}',
                    f'trtvit_dense::{zoo.family_config(family, backbone, "toy")}')


DEMO_MODELS = tuple(_toy_job(f, b) for f in DEMO_FAMILIES for b in DEMO_BACKBONES)
# the pretraining of --pretrain: one toy classifier per backbone of DEMO_MODELS (mmseg's
# UPerNet R50 has the ResNetV1c stem, so it gets its own)
PRETRAIN_MODELS = tuple(_toy_job('imagenet', b) for b in (*DEMO_BACKBONES, 'r50-v1c'))
# the shipped toy deploy configs (the demo derives its own profiles from the data; the
# TensorRT acceptance run uses these)
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


def check_targets(rows: Sequence[dict], targets: dict = DEMO_TARGETS) -> list[str]:
    """One message per row of a targeted model that misses its target
    (:data:`DEMO_TARGETS` by default); empty when all are met."""
    return training.check_targets(rows, targets)


@dataclass
class DemoResult:
    rows: list
    reports: dict
    train: list
    step_s: dict = field(default_factory=dict)
    misses: list = field(default_factory=list)


def demo_datasets(data_dir: str | Path = 'data',
                  families: Sequence[str] | None = None) -> list:
    """The demo's datasets as the compare command reads them, with their model families:
    the toy COCO (its own train/val JSONs and folders) for Mask R-CNN and RetinaNet, the
    toy ADE20K (ADE layout, its classes.txt) for UPerNet; ``families`` keeps a subset."""
    from .compare import DataSpec
    coco, ade = Path(data_dir) / 'toy_coco', Path(data_dir) / 'toy_ade' / 'ADEChallengeData2016'
    wanted = families or DEMO_FAMILIES
    out = []
    det = tuple(f for f in ('mask_rcnn', 'retinanet') if f in wanted)
    if det:
        out.append((DataSpec('detection', ann_file=str(coco / 'annotations/instances_train.json'),
                             images=str(coco / 'train'),
                             val_ann_file=str(coco / 'annotations/instances_val.json'),
                             val_images=str(coco / 'val')), det))
    if 'upernet' in wanted:
        out.append((DataSpec('segmentation', root=str(ade)), ('upernet', )))
    return out


def run_demo(work_dir: str | Path = 'work_dirs/demo', data_dir: str | Path = 'data',
             options=None, on_step: Callable[[str], None] = print, jobs: int = 1,
             pretrain: bool = False, families: Sequence[str] | None = None,
             backbones: Sequence[str] = DEMO_BACKBONES, epochs: int | None = None,
             train_subset: int | None = None) -> DemoResult:
    """The demo: the compare command (:func:`trtvit_dense.apis.compare.run_compare`) on
    the toy data with the toy recipe, and the accuracy targets (see the module docstring).
    ``pretrain`` first compares the toy classifiers on the toy ImageNet
    (``<work_dir>/pretrain``) and fine-tunes every model from their backbones.
    ``families``, ``backbones``, ``epochs`` and ``train_subset`` shorten it (tests)."""
    from .compare import DataSpec, run_compare
    work_dir = Path(work_dir)
    options = options or demo_benchmark_options()
    start = time.perf_counter()
    make_demo_data(data_dir, ('coco', 'ade', 'imagenet') if pretrain else ('coco', 'ade'))
    step_s = dict(data=time.perf_counter() - start)
    weights, classifiers = None, []
    if pretrain:
        on_step('== pretraining the backbones on the toy ImageNet ==')
        tags = tuple(backbones) + (('r50-v1c', ) if 'r50' in backbones else ())
        cls = run_compare([(DataSpec('classification', root=str(Path(data_dir) / 'toy_imagenet')),
                            ('imagenet', ))], work_dir / 'pretrain', tags, 'toy', None,
                          options, jobs, epochs=epochs, train_subset=train_subset,
                          title='trtvit-dense demo: the pretraining (toy ImageNet, CPU)',
                          on_step=on_step)
        classifiers = cls.train
        weights = {m.backbone: t['checkpoint'] for m, t in zip(cls.models, cls.train)}
        step_s['pretrain'] = sum(cls.step_s.values())
        on_step('== fine-tuning from the pretrained backbones ==')
    title = 'trtvit-dense demo (toy data, CPU' + (', pretrained backbones)' if pretrain
                                                  else ')')
    result = run_compare(demo_datasets(data_dir, families), work_dir, backbones, 'toy', weights,
                         options, jobs, epochs=epochs, train_subset=train_subset, title=title,
                         targets=DEMO_TARGETS, on_step=on_step)
    step_s.update(result.step_s)
    return DemoResult(result.rows, result.reports, classifiers + result.train, step_s,
                      result.misses)


# The demo's timing loop: at least 5 calls and 0.5 s after 0.25 s of warm-up, per
# measurement (model compute and end to end, per model and backend: 24 of them). Half
# of tools/benchmark.py's defaults: the demo reports medians and ratios, the full
# benchmark keeps its statistics (docs/measurements.md has what it saves).
DEMO_TIMING = dict(warmup_s=0.25, warmup_iters=2, iters=5, min_duration_s=0.5)


def demo_benchmark_options(**overrides):
    """The demo's benchmark settings: PyTorch and ONNX Runtime, the toy deploy
    profiles, every validation image, and a short timing loop (:data:`DEMO_TIMING`)."""
    from ..benchmark import BenchmarkOptions, TimingSettings
    settings = dict(backends=('pytorch', 'onnxruntime'), deploy_configs=DEMO_DEPLOY_CONFIGS,
                    split='test', timing=TimingSettings(**DEMO_TIMING))
    settings.update(overrides)
    return BenchmarkOptions(**settings)


