"""The product's main command (``tools/compare.py``): TRT-ViT against ResNet-50 on *your*
dataset, trained, deployed, verified, evaluated and timed, in one run.

1. **data**: the dataset is read and checked (:mod:`trtvit_dense.datasets`): every
   defect of real data is repaired or dropped and said in the report, or refused with
   one line, before anything trains (``check_only`` stops after the configs, with the
   plan and the time it expects);
2. **configs**: one readable config per model is written to ``<work_dir>/configs/``,
   inheriting the shipped one of its family (``recipe='full'``: the COCO / ADE20K /
   ImageNet configs; ``'toy'``: the fast CPU configs of the demo) with the classes and
   ``num_classes`` of the data, its files in every dataloader and evaluator, an image
   scale and a schedule derived from the data (full recipe; each rule is written next to
   its numbers), and one deploy config per task whose profile covers the images' network
   input sizes. ``tools/train.py``, ``test.py``, ``deploy.py`` and ``benchmark.py`` take
   them as they are;
3. **train** each model (one process each, two at a time on a CPU, with a progress
   line per running training; ``gpus > 1``: ``torchrun``), its backbone from the given
   pretrained weights or from scratch;
4. **benchmark**: deploy, verify, evaluate and time every model on every backend and
   precision, as ``tools/benchmark.py`` does;
5. **report**: ``report.md`` / ``.json`` / ``.csv`` / ``pareto.png`` with the TRT-ViT vs
   R50 table, what the data check handled and the next commands.

Every step is reused when a previous run finished it (a killed run continues).
``make demo`` is this command on the embedded toy data (:mod:`.demo`).
"""
from __future__ import annotations

import math
import os
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from pprint import pformat
from typing import Callable, Sequence

import numpy as np

from ..models import zoo
from ..utils.atomic import atomic_write_bytes
from ..datasets import DataError, DataSpec, UserDataset, image_size_stats, read_dataset

__all__ = ['FAMILY_TASK', 'RECIPES', 'BACKBONES', 'DataSpec', 'CompareModel',
           'CompareResult', 'CompareStepError', 'read_dataset', 'default_families',
           'write_model_config', 'write_deploy_config', 'plan_models', 'plan_text',
           'training_order', 'run_compare', 'DataError']

# family -> its task, and the recipes (the registry: trtvit_dense.models.zoo)
FAMILY_TASK = {name: f.task for name, f in zoo.FAMILIES.items()}
RECIPES = ('full', 'toy')  # the COCO/ADE20K/ImageNet configs; the demo's fast CPU ones
BACKBONES = tuple(zoo.BACKBONES)
# detection: at least mmdet's 1x (12 epochs) and at least this many iterations
MIN_DET_ITERS = 3000
# segmentation: ADE20K's 160k iterations at batch 16 are ~128 epochs; at least 1000
SEG_EPOCHS, MIN_SEG_ITERS = 128, 1000


@dataclass
class CompareModel:
    name: str
    family: str
    backbone: str
    config: str            # the written config
    base: str              # the shipped config it inherits
    task: str
    pretrained: str | None = None  # the backbone's checkpoint (None: from scratch)
    init: str = 'scratch'          # how the backbone starts, for the report
    scale: list | None = None     # (long, short) resize scale; None: a classifier
    schedule: str = ''            # '12 epochs' / '1000 iterations'


@dataclass
class CompareResult:
    data: dict
    models: list
    train: list
    rows: list
    reports: dict
    step_s: dict = field(default_factory=dict)
    misses: list = field(default_factory=list)
    plan: str = ''                # check_only: what the full run would do


class CompareStepError(RuntimeError):
    """A step of the compare command failed on something that is not a known bad input;
    the message is one line (the step, the error, where to look), the original
    exception its ``__cause__``."""


def default_families(data: UserDataset) -> tuple[str, ...]:
    """The task's detector / segmentor / classifier: Mask R-CNN when the annotations
    have masks, else RetinaNet; UPerNet; the ImageNet classifier."""
    if data.task == 'detection':
        return ('mask_rcnn', ) if data.splits['train']['masks'] else ('retinanet', )
    return {'segmentation': ('upernet', ), 'classification': ('imagenet', )}[data.task]


# -- image sizes, scales and deploy profiles -------------------------------------------

def _ceil32(v: float) -> int:
    return int(math.ceil(v / 32) * 32)


def _floor32(v: float) -> int:
    return max(32, int(v // 32 * 32))


def rescaled(sizes: np.ndarray, scale: Sequence[int]) -> np.ndarray:
    """mmcv's keep-ratio resize of ``[N, 2]`` (h, w) into ``scale`` (long, short edge)."""
    long_edge, short_edge = max(scale), min(scale)
    h, w = sizes[:, 0].astype(float), sizes[:, 1].astype(float)
    factor = np.minimum(long_edge / np.maximum(h, w), short_edge / np.minimum(h, w))
    return np.stack([np.floor(h * factor + 0.5), np.floor(w * factor + 0.5)], 1).astype(int)


def derived_scale(data: UserDataset, base_scale: Sequence[int]) -> tuple[int, int]:
    """The (long, short) resize scale for the data: the images' median size rounded up
    to a multiple of 32 when it fits in the base config's scale, else the base's."""
    stats = image_size_stats(data.sizes)
    long_m, short_m = max(stats['median']), min(stats['median'])
    if long_m <= max(base_scale) and short_m <= min(base_scale):
        return _ceil32(long_m), _ceil32(short_m)
    return tuple(int(v) for v in base_scale)


def network_sizes(data: UserDataset, task: str, scale: Sequence[int]) -> np.ndarray:
    """The [N, 2] network input sizes of every image after the test pipeline's resize
    (detection: padded to a multiple of 32, as mmdet's data preprocessor does)."""
    sizes = rescaled(data.sizes, scale)
    return np.ceil(sizes / 32).astype(int) * 32 if task == 'detection' else sizes


def deploy_profile(task: str, sizes: np.ndarray | None, crop: int | None = None) -> dict:
    """Profile and verification shapes covering the network input ``sizes`` (batch 1-2),
    or, for a classifier, its square ``crop`` (batch 1-8, opt 8, as the paper times)."""
    if task == 'classification':
        low, high = _floor32(crop / 2), _ceil32(crop * 2)
        profile = dict(min_shape=[1, 3, low, low], opt_shape=[8, 3, crop, crop],
                       max_shape=[8, 3, high, high])
        odd = (crop * 7 // 8) | 1
        shapes = [[8, 3, crop, crop], [1, 3, crop, crop], [1, 3, low, low],
                  [2, 3, high, high], [3, 3, odd, odd + 34], [8, 3, low + 32, low + 32]]
        return dict(profile=profile, shapes=shapes)
    lo = [_floor32(v) for v in sizes.min(0)]
    hi = [_ceil32(v) for v in sizes.max(0)]
    values, counts = np.unique(sizes, axis=0, return_counts=True)
    opt = [int(v) for v in values[counts.argmax()]]  # the most common input size
    odd = [max(lo[i], min(hi[i], ((lo[i] + hi[i]) // 2) | 1)) for i in range(2)]
    shapes = [[1, 3, *opt], [1, 3, *lo], [1, 3, *hi], [2, 3, *opt],
              [1, 3, odd[0], odd[1]], [1, 3, min(hi[0], odd[0] + 32), max(lo[1], odd[1] - 30)]]
    return dict(profile=dict(min_shape=[1, 3, *lo], opt_shape=[1, 3, *opt],
                             max_shape=[2, 3, *hi]), shapes=shapes)


# -- writing configs --------------------------------------------------------------------

def _py(value) -> str:
    return pformat(value, width=88, sort_dicts=False)


def _comment(text: str) -> list[str]:
    """``text`` as ``#`` lines of at most 88 characters."""
    return textwrap.wrap(text, 86, initial_indent='# ', subsequent_indent='# ')


def _set_scale(pipeline: list, scale: tuple, crop: int | None) -> list:
    out = []
    for step in pipeline:
        step = dict(step)
        if step.get('type') in ('Resize', 'RandomResize') and 'scale' in step:
            step['scale'] = tuple(scale)
        if step.get('type') == 'RandomCrop' and crop is not None:
            step['crop_size'] = (crop, crop)
        out.append(step)
    return out


def _reduce_zero(pipeline: list, value: bool) -> list:
    return [dict(s, reduce_zero_label=value) if s.get('type') == 'LoadAnnotations' else dict(s)
            for s in pipeline]


def _base_config(family: str, backbone: str, recipe: str) -> str:
    from ..config import package_config
    if family not in FAMILY_TASK:
        raise DataError(f'unknown model family {family!r}; choose from {sorted(FAMILY_TASK)}')
    if backbone not in zoo.BACKBONES:
        raise DataError(f'unknown backbone {backbone!r}; choose from {", ".join(BACKBONES)}')
    if FAMILY_TASK[family] == 'detection' and backbone == 'r50-v1c':
        raise DataError("backbone 'r50-v1c' is the R50 of UPerNet (mmseg's ResNetV1c) and "
                        "its classifier; use 'r50' for the detectors")
    path = zoo.family_config(family, backbone, recipe)
    if path is None or not Path(package_config(path)).is_file():
        raise DataError(f'there is no shipped {recipe} config for {family} with {backbone} '
                        f'({path}); the {recipe} {family} configs have the backbones '
                        f'{", ".join(zoo.backbones_of(family, recipe))}')
    return path


def write_model_config(data: UserDataset, family: str, backbone: str, recipe: str,
                       out_dir: str | Path, epochs: int | None = None,
                       scale: Sequence[int] | None = None,
                       train_subset: int | None = None) -> tuple[Path, dict]:
    """Write ``<out_dir>/<name>.py`` for ``family`` x ``backbone`` on ``data``; returns the
    path and the facts it was written from (scale, schedule, input sizes)."""
    from ..config import load_config
    task = FAMILY_TASK[family]
    if task != data.task:
        raise DataError(f'{family} is a {task} model; the dataset is for {data.task}')
    base = _base_config(family, backbone, recipe)
    cfg = load_config(f'trtvit_dense::{base}')
    name = f'{zoo.FAMILIES[family].prefix}_{backbone}'
    n, classes = len(data.classes), tuple(data.classes)
    train, val = data.splits['train'], data.splits['val']
    lines = [f'# {name} on your data: written by tools/compare.py from the dataset check',
             f'# (recipe {recipe!r}); edit and reuse it: tools/train.py, test.py, deploy.py and',
             '# benchmark.py take it as it is.',
             f"_base_ = 'trtvit_dense::{base}'", '',
             f'# {n} classes, from the data (in label order)', f'classes = {_py(classes)}',
             f'num_classes = {n}', '']
    facts: dict = {}
    full = recipe == 'full'
    if task in ('detection', 'segmentation'):
        base_pipe = cfg.test_dataloader.dataset.pipeline
        base_scale = next(s['scale'] for s in base_pipe if s.get('type') == 'Resize')
        if scale is not None:
            use_scale, why = tuple(scale), 'given (--image-scale)'
        elif full:
            if task == 'segmentation':
                short = min(512, _ceil32(min(image_size_stats(data.sizes)['median'])))
                use_scale = (4 * short, short)
                why = ("the images' median short side rounded up to 32 (at most ADE20K's "
                       '512), long side 4x, as (2048, 512)')
            else:
                use_scale = derived_scale(data, base_scale)
                why = ("the images' median size rounded up to 32 (within COCO's "
                       f'{tuple(base_scale)})')
        else:
            use_scale, why = tuple(base_scale), f'the {recipe} recipe'
        crop = None
        if task == 'segmentation' and (full or scale is not None):
            crop = min(use_scale)
        stats = image_size_stats(data.sizes)
        lines += _comment(f'image scale (long, short): {why}; the images are {stats["min"]} '
                          f'to {stats["max"]} (h, w), median {stats["median"]}')
        lines += [f'scale = {_py(tuple(use_scale))}']
        facts.update(scale=list(use_scale), input_sizes=network_sizes(data, task, use_scale))
        train_pipe = cfg.train_dataloader.dataset.pipeline
        test_pipe = base_pipe
        if full or scale is not None:
            train_pipe, test_pipe = (_set_scale(p, use_scale, crop) for p in (train_pipe, test_pipe))
        if task == 'segmentation':
            zero = bool(train['reduce_zero_label'])
            train_pipe, test_pipe = _reduce_zero(train_pipe, zero), _reduce_zero(test_pipe, zero)
        lines += [f'train_pipeline = {_py(list(train_pipe))}',
                  f'test_pipeline = {_py(list(test_pipe))}', '']
    if task == 'detection':
        heads = (dict(roi_head=dict(bbox_head=dict(num_classes=n), mask_head=dict(num_classes=n)))
                 if family == 'mask_rcnn' else dict(bbox_head=dict(num_classes=n)))
        lines.append(f'model = {_py(heads)}'.replace(f'num_classes={n}', 'num_classes=num_classes')
                     .replace(f"'num_classes': {n}", "'num_classes': num_classes"))

        def dataset(split):
            info = data.splits[split]
            subset = dict(indices=train_subset) if split == 'train' and train_subset else {}
            return (f"dict(dataset=dict(data_root='', ann_file={info['ann_file']!r}, "
                    f"data_prefix=dict(img={info['img_dir'].rstrip('/') + '/'!r}), "
                    f"metainfo=dict(_delete_=True, classes=classes), pipeline="
                    f"{'train' if split == 'train' else 'test'}_pipeline"
                    + ''.join(f', {k}={v!r}' for k, v in subset.items()) + '))')
        lines += [f'train_dataloader = {dataset("train")}', f'val_dataloader = {dataset("val")}',
                  'test_dataloader = val_dataloader',
                  f"val_evaluator = dict(ann_file={val['ann_file']!r})",
                  'test_evaluator = val_evaluator', '']
    elif task == 'segmentation':
        aux = ("auxiliary_head=dict(num_classes=num_classes), "
               if cfg.model.get('auxiliary_head') else '')  # Semantic FPN has none
        lines.append("model = dict(decode_head=dict(num_classes=num_classes), " + aux
                     + (f'data_preprocessor=dict(size=({crop}, {crop}))' if crop else '') + ')')

        def dataset(split):
            info = data.splits[split]
            subset = f', indices={train_subset}' if split == 'train' and train_subset else ''
            pipe = 'train_pipeline' if split == 'train' else 'test_pipeline'
            return (f"dict(dataset=dict(type='BaseSegDataset', data_root='', "
                    f"ann_file={info['ann_file']!r}, data_prefix=dict(img_path="
                    f"{info['img_dir']!r}, seg_map_path={info['label_dir']!r}), "
                    f"img_suffix={info['img_suffix']!r}, "
                    f"seg_map_suffix={info.get('seg_map_suffix', '.png')!r}, "
                    f"reduce_zero_label={bool(info['reduce_zero_label'])}, "
                    f"metainfo=dict(_delete_=True, classes=classes), pipeline={pipe}{subset}))")
        lines += [f'train_dataloader = {dataset("train")}', f'val_dataloader = {dataset("val")}',
                  'test_dataloader = val_dataloader', '']
    else:  # classification: mmpretrain's CustomDataset (class folders or meta lists)
        crop = _classifier_size(cfg)
        topk = (1, 5) if n >= 5 else (1, )
        lines += [f'# images are classified at {crop} x {crop} (the {recipe} recipe)',
                  'model = dict(data_preprocessor=dict(num_classes=num_classes), '
                  f'head=dict(num_classes=num_classes, topk={topk!r}))']

        def dataset(split):
            info = data.splits[split]
            ann = f", ann_file={info['ann_file']!r}" if info['ann_file'] else ''
            subset = f', indices={train_subset}' if split == 'train' and train_subset else ''
            return (f"dict(dataset=dict(_delete_=True, type='CustomDataset', "
                    f"data_root={str(data.root)!r}, data_prefix={split!r}{ann}, "
                    f"classes=list(classes), pipeline={_py(list(getattr(cfg, f'{split}_dataloader').dataset.pipeline))}"
                    f"{subset}))")
        lines += [f'train_dataloader = {dataset("train")}', f'val_dataloader = {dataset("val")}',
                  'test_dataloader = val_dataloader',
                  f'val_evaluator = dict(type=\'Accuracy\', topk={topk!r})',
                  'test_evaluator = val_evaluator', '']
        facts.update(crop=crop)
    lines += _schedule(cfg, data, task, recipe, epochs, train_subset, facts)
    lines += ['# one seed for every model: the same data order and augmentations for both',
              '# backbones, and a run that repeats (on the same machine and versions)',
              'randomness = dict(seed=0)']
    path = Path(out_dir) / f'{name}.py'
    atomic_write_bytes(path, ('\n'.join(lines) + '\n').encode())
    return path, facts


def _classifier_size(cfg) -> int:
    for step in cfg.test_dataloader.dataset.pipeline:
        if step.get('type') == 'CenterCrop':
            size = step['crop_size']
            return int(size if isinstance(size, int) else size[0])
        if step.get('type') == 'Resize':
            size = step['scale']
            return int(size if isinstance(size, int) else size[0])
    raise DataError('the classifier config has no Resize/CenterCrop in its test pipeline')


def _schedule(cfg, data: UserDataset, task: str, recipe: str, epochs: int | None,
              train_subset: int | None, facts: dict) -> list[str]:
    """The schedule lines: the base's for the toy recipe; scaled to the data for the
    full one (the rule is written above the numbers); ``epochs`` overrides."""
    n_train = min(train_subset or data.splits['train']['images'], data.splits['train']['images'])
    batch = cfg.train_dataloader.batch_size
    iters_per_epoch = max(1, math.ceil(n_train / batch))
    if task == 'segmentation':
        if epochs is not None:
            iters, why = max(1, epochs * iters_per_epoch), f'{epochs} epochs (--epochs)'
        elif recipe == 'full':
            iters = min(160000, max(MIN_SEG_ITERS, SEG_EPOCHS * iters_per_epoch))
            why = (f"{SEG_EPOCHS} epochs' worth (ADE20K's 160k iterations at batch 16), at "
                   f'least {MIN_SEG_ITERS}: {n_train} images at batch {batch}')
        else:
            facts.update(iters=cfg.train_cfg.max_iters)
            return [f'# schedule: the {recipe} recipe\'s ({cfg.train_cfg.max_iters} iterations)']
        warmup = min(1500, iters // 10)  # none for a run of under 10 iterations
        facts.update(iters=iters)
        return [*_comment(f'schedule: {why} = {iters} iterations; warm-up {warmup} '
                          'iterations, then linear decay (as the ADE20K config)'),
                f'train_cfg = dict(max_iters={iters}, val_interval={iters})',
                'param_scheduler = [',
                *([f"    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, "
                   f'end={warmup}),'] if warmup else []),
                f"    dict(type='PolyLR', eta_min=0.0, power=1.0, begin={warmup}, end={iters}, "
                'by_epoch=False)]',
                f'default_hooks = dict(checkpoint=dict(by_epoch=False, interval={iters}, '
                'max_keep_ckpts=1))']
    if epochs is None and recipe != 'full':
        facts.update(epochs=cfg.train_cfg.max_epochs)
        return [f"# schedule: the {recipe} recipe's ({cfg.train_cfg.max_epochs} epochs)"]
    if task == 'classification':
        total = epochs or cfg.train_cfg.max_epochs
        why = f'{total} epochs' + (' (--epochs)' if epochs else " (the ImageNet recipe's)")
        warm = min(20, total // 15)  # 20 of 300 epochs; none for under 15
        facts.update(epochs=total)
        return [*_comment(f'schedule: {why}; {warm} warm-up epochs, then cosine (as the '
                          'ImageNet recipe)'),
                f'train_cfg = dict(max_epochs={total}, val_interval={total})',
                'param_scheduler = [',
                *([f"    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end={warm}, "
                   'convert_to_iter_based=True),'] if warm else []),
                f"    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin={warm})]",
                f'default_hooks = dict(checkpoint=dict(interval={total}, max_keep_ckpts=1, '
                'save_best=None))', 'auto_scale_lr = dict(enable=True)']
    if epochs is not None:
        total, why = epochs, f'{epochs} epochs (--epochs)'
    else:
        total = max(12, math.ceil(MIN_DET_ITERS / iters_per_epoch))
        why = (f"mmdet's 1x (12 epochs) or {MIN_DET_ITERS} iterations, whichever is longer: "
               f'{n_train} images at batch {batch}')
    warmup = min(500, total * iters_per_epoch // 10)  # none for under 10 iterations
    steps = sorted({max(1, round(total * 8 / 12)), max(1, round(total * 11 / 12))})
    facts.update(epochs=total)
    return [*_comment(f'schedule: {why} = {total} epochs; warm-up {warmup} iterations, lr '
                      'x0.1 at epochs ' + ' and '.join(map(str, steps)) + ' (as 1x: 8 and 11 of 12)'),
            f'train_cfg = dict(max_epochs={total}, val_interval={total})',
            'param_scheduler = [',
            *([f"    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, "
               f'end={warmup}),'] if warmup else []),
            f"    dict(type='MultiStepLR', begin=0, end={total}, by_epoch=True, "
            f'milestones={steps}, gamma=0.1)]',
            f'default_hooks = dict(checkpoint=dict(interval={total}, max_keep_ckpts=1))',
            '# the learning rate was set for batch 16: scale it to the batch in use',
            'auto_scale_lr = dict(enable=True)']


def write_deploy_config(data: UserDataset, task: str, facts: dict, out_dir: str | Path) -> Path:
    """Write ``<out_dir>/deploy_<task>.py``: the shipped task deploy config with a
    profile and verification shapes that cover the data's network input sizes."""
    from ..tasks import get_task
    if task == 'classification':
        plan = deploy_profile(task, None, crop=facts['crop'])
        source = f"classified at {facts['crop']} x {facts['crop']}"
    else:
        sizes = facts['input_sizes']
        plan = deploy_profile(task, sizes)
        source = (f'{len(sizes)} images at scale {tuple(facts["scale"])}: network inputs '
                  f'{[int(v) for v in sizes.min(0)]} to {[int(v) for v in sizes.max(0)]} (h, w)')
    lines = [*_comment(f'The {task} deploy profile for your data, written by tools/compare.py: '
                       f'it covers every image ({source}), rounded to multiples of 32; opt is '
                       'the most common input size' + (' at batch 8 (the paper times '
                                                       'classifiers so).' if task ==
                                                       'classification' else '.')),
             f"_base_ = 'trtvit_dense::{get_task(task).deploy_config}'",
             f'profile = {_py(plan["profile"])}',
             f'verify = dict(_delete_=True, shapes={_py(plan["shapes"])})']
    path = Path(out_dir) / f'deploy_{task}.py'
    atomic_write_bytes(path, ('\n'.join(lines) + '\n').encode())
    return path


# -- the run ----------------------------------------------------------------------------

def plan_models(data: UserDataset, families: Sequence[str], backbones: Sequence[str],
                recipe: str, config_dir: Path, weights: dict | None = None,
                epochs: int | None = None, scale=None,
                train_subset: int | None = None) -> tuple[list[CompareModel], Path]:
    """Write every model's config and the task's deploy config; returns the models and
    the deploy config."""
    if recipe not in RECIPES:
        raise DataError(f'--recipe must be one of {tuple(RECIPES)}, got {recipe!r}')
    unknown = [b for b in backbones if b not in BACKBONES]
    if unknown:
        raise DataError(f'unknown backbones {unknown}; choose from {", ".join(BACKBONES)}')
    models, facts = [], None
    for family in families:
        for backbone in backbones:
            segmentor = FAMILY_TASK[family] == 'segmentation'
            if segmentor and backbone == 'r50' and 'r50-v1c' in backbones:
                continue  # one segmentor R50 (it is ResNetV1c)
            if FAMILY_TASK[family] == 'detection' and backbone == 'r50-v1c':
                continue  # a detector's R50 is mmdet's ResNet
            path, facts = write_model_config(data, family, backbone, recipe, config_dir,
                                             epochs, scale, train_subset)
            # a segmentor's R50 is ResNetV1c: its own weights (r50-v1c=...), or
            # ImageNet's ResNetV1c for r50=imagenet
            key = 'r50-v1c' if segmentor and backbone == 'r50' else backbone
            given = (weights or {}).get(key) or (weights or {}).get(backbone)
            pretrained, init = _backbone_start(key if given == 'imagenet' else backbone, given)
            schedule = (f"{facts['iters']} iterations" if 'iters' in facts
                        else f"{facts['epochs']} epochs")
            models.append(CompareModel(path.stem, family, backbone, str(path),
                                       _base_config(family, backbone, recipe),
                                       FAMILY_TASK[family], pretrained, init,
                                       facts.get('scale'), schedule))
    if not models:
        raise DataError('no model to train: give --models and --backbones')
    deploy = write_deploy_config(data, data.task, facts, config_dir)
    return models, deploy


def _backbone_start(backbone: str, given: str | None) -> tuple[str | None, str]:
    """(checkpoint, how the report says it starts) for ``--backbone-weights``' value:
    None (scratch), 'imagenet' (the published weights, :mod:`trtvit_dense.models.imagenet`)
    or a path (your checkpoint)."""
    if not given:
        return None, 'scratch'
    if given == 'imagenet':
        from ..models.imagenet import IMAGENET, imagenet_weights
        return str(imagenet_weights(backbone)), f'ImageNet ({IMAGENET[backbone].source})'
    return given, f'your checkpoint ({Path(given).name})'


def start_warning(models: Sequence[CompareModel]) -> str | None:
    """A warning when the backbones compared did not start the same way (ImageNet,
    your checkpoint, scratch): the difference then mixes architecture and pretraining."""
    kinds = {m.init.split(' ')[0] for m in models}
    if len(kinds) <= 1:
        return None
    starts = ', '.join(f'{m.name}: {m.init}' for m in models)
    return (f'**The backbones did not start the same way** ({starts}): the differences '
            'below mix the architecture with the pretraining; give every backbone ImageNet '
            'weights (`--backbone-weights NAME=imagenet`, TRT-ViT: a checkpoint of its '
            'classifier config) for a fair comparison.')


def _check_written(models: Sequence[CompareModel]) -> None:
    """Every written config loads and passes the tools' pre-flight checks."""
    from ..checks import check_config
    from ..config import load_config
    for model in models:
        check_config(load_config(model.config), ('train', 'val'))


def next_commands(models: Sequence[CompareModel], deploy: Path, trained: Sequence[dict]) -> str:
    """The commands that reuse the written configs, for the report."""
    first, ckpt = models[0], trained[0]['checkpoint']
    return '\n'.join([
        '```bash',
        f'.venv/bin/python tools/train.py {first.config}   # again, or edit it first',
        f'.venv/bin/python tools/test.py {first.config} {ckpt}',
        f'.venv/bin/python tools/deploy.py {first.config} {ckpt} --deploy-cfg {deploy} \\',
        '    --work-dir work_dirs/deploy/mine [--backend tensorrt --device cuda '
        '--precision fp16]',
        f'.venv/bin/python tools/infer.py {first.config} {ckpt} YOUR_IMAGES/',
        '```'])


def plan_text(models: Sequence[CompareModel], deploys: dict, data_summary: dict,
              options, jobs: int, gpus: int, estimate: dict | None) -> str:
    """What the full run would do (``check_only``), as markdown."""
    from ..deploy.config import load_deploy_config
    from ..utils.markdown import markdown_table
    lines = ['## The plan', '', markdown_table(
        ['model', 'config', 'inherits', 'backbone init', 'schedule', 'image scale'],
        [[m.name, m.config, m.base, m.init, m.schedule, 'x'.join(map(str, m.scale)) if m.scale else '-'] for m in models]), '']
    for task, path in deploys.items():
        deploy = load_deploy_config(path)
        lines.append(f'- deploy ({task}, {path}): dynamic ONNX, profile '
                     f'{deploy.profile_text()}, verified at {len(deploy.verify_shapes)} shapes')
    lines.append(f"- benchmark: {', '.join(options.backends)} x {', '.join(options.precisions)} "
                 f'on {options.device}, every validation image'
                 + (f' (first {options.num_images})' if options.num_images else ''))
    lines.append(f'- training: {len(models)} models, '
                 + (f'{gpus} GPUs each (torchrun)' if gpus > 1 else
                    f'{jobs} at a time'))
    if estimate:
        steps = estimate['steps']
        lines += ['', '## The time it expects on this machine', '', markdown_table(
            ['model', 'threads', 'training step s', 'iterations', 'training min',
             'validation image s'],
            [[n, s.threads, f'{s.train_step_s:.2f}', estimate['iterations'][n],
              f"{s.train_step_s * estimate['iterations'][n] / 60:.1f}", f'{s.test_image_s:.3f}']
             for n, s in steps.items()]), '',
            f"Expected: training {estimate['train'] / 60:.1f} min ({jobs} at a time), "
            f"evaluation {estimate['benchmark'] / 60:.1f} min, about "
            f"{(estimate['train'] + estimate['benchmark']) / 60:.1f} min in all, from one "
            'measured training step and one validation image per model (data loading, '
            'export, verification and the timing repeats come on top).']
    return '\n'.join(lines) + '\n'


def training_order(models: Sequence[CompareModel]) -> list[CompareModel]:
    """The order the trainings start in: family after family as planned, the backbones'
    order reversed in every other family. Workers take the next training as they free
    up, and one backbone tends to be the slower one in every family (the demo's R50, by
    10-20% a step); in one fixed order the worker that trains it falls further behind
    each family and the other core idles at the end, while alternating hands the slower
    training of the next family to the worker that finished first."""
    groups: list[list[CompareModel]] = []
    for model in models:
        if groups and groups[-1][0].family == model.family:
            groups[-1].append(model)
        else:
            groups.append([model])
    return [m for i, group in enumerate(groups) for m in (group[::-1] if i % 2 else group)]


def _step(name: str, work_dir: Path):
    """Run a step of the compare command: an unexpected error becomes one line naming
    the step (the known bad inputs keep their own message)."""
    from contextlib import contextmanager

    @contextmanager
    def guard():
        from .cli import user_errors
        from .training import TrainingError
        try:
            yield
        except (DataError, TrainingError, CompareStepError, *user_errors()):
            raise
        except Exception as e:
            text = (str(e).strip().splitlines() or [''])[-1][:300]
            raise CompareStepError(f'{name} failed: {type(e).__name__}: {text}; the work '
                                   f'so far is in {work_dir} (re-run to continue, --debug '
                                   'for the traceback)') from e
    return guard()


def run_compare(datasets: Sequence[tuple[DataSpec, Sequence[str] | None]], work_dir: str | Path,
                backbones: Sequence[str] = ('trtvit-a', 'r50'), recipe: str = 'full',
                weights: dict | None = None, options=None, jobs: int = 1, gpus: int = 1,
                epochs: int | None = None, scale=None, train_subset: int | None = None,
                title: str = 'TRT-ViT vs ResNet-50 on your data', targets: dict | None = None,
                on_step: Callable[[str], None] = print, check_only: bool = False,
                estimate: bool = True) -> CompareResult:
    """The whole comparison (see the module docstring) for each ``(dataset, families)``
    (None: :func:`default_families`), into ``work_dir``. ``check_only``: stop after the
    data check and the configs, with the plan (and, ``estimate``, the time it expects,
    from a measured step of each model) in ``plan``; nothing is trained."""
    from ..benchmark import BenchmarkOptions, ModelSpec, compare_table, run_benchmark, write_reports
    from ..benchmark.report import format_time_table
    from .training import TrainJob, check_targets, train_model, train_models
    work_dir = Path(work_dir)
    options = options or BenchmarkOptions()
    step_s, data_summary, models, deploys = {}, {}, [], {}
    tasks = {spec.task for spec, _ in datasets}
    for name, value in (weights or {}).items():  # ImageNet weights there, before any write
        if value == 'imagenet':
            from ..models.imagenet import imagenet_weights
            if name != 'r50' or tasks - {'segmentation'}:
                imagenet_weights(name)
            if name == 'r50' and 'segmentation' in tasks:  # the segmentors' R50: ResNetV1c
                imagenet_weights('r50-v1c')
    start = time.perf_counter()
    on_step(f'[1/4] reading and checking {len(datasets)} dataset(s), writing configs to '
            f'{work_dir / "configs"}/')
    with _step('the data check', work_dir):
        for spec, families in datasets:
            masks = None if families is None else 'mask_rcnn' in families
            data = read_dataset(spec, work_dir / 'data' / spec.task, masks)
            for note in data.notes:
                on_step(f'      {spec.task}: {note}')
            found, deploy = plan_models(data, families or default_families(data), backbones,
                                        recipe, work_dir / 'configs', weights, epochs, scale,
                                        train_subset)
            _check_written(found)
            models += found
            deploys[data.task] = str(deploy)
            data_summary[spec.task] = data.summary()
            on_step(f'      {spec.task}: {len(data.classes)} classes; configs '
                    + ', '.join(Path(m.config).name for m in found) + f', {deploy.name}')
    step_s['data'] = time.perf_counter() - start
    jobs = max(1, min(jobs, len(models)))  # a second job slot for one model only halves its threads
    if check_only:
        guess = None
        if estimate:
            from .estimate import default_threads, estimate_run_s, measure_steps, schedule_iterations
            on_step('      measuring one training step and one validation image per model')
            with _step('the time estimate', work_dir):
                threads = default_threads(1 if gpus > 1 else jobs)
                steps = {m.name: measure_steps(m.config, threads, options.device)
                         for m in models}
                iterations = {m.name: schedule_iterations(
                    m.config, data_summary[m.task]['splits']['train']['images'])
                    for m in models}
                val_images = max(s['splits']['val']['images'] for s in data_summary.values())
                if options.num_images:
                    val_images = min(val_images, options.num_images)
                guess = dict(estimate_run_s(steps, iterations, val_images,
                                            len(options.backends) * len(options.precisions),
                                            1 if gpus > 1 else jobs),
                             steps=steps, iterations=iterations)
        plan = plan_text(models, deploys, data_summary, options, jobs, gpus, guess)
        atomic_write_bytes(work_dir / 'plan.md', plan.encode())
        return CompareResult(data_summary, models, [], [], {'plan': work_dir / 'plan.md'},
                             step_s, plan=plan)

    start = time.perf_counter()
    on_step(f'[2/4] training {len(models)} models' + (f' on {gpus} GPUs each' if gpus > 1 else ''))
    jobs_ = [TrainJob(m.name, m.config, m.name if m.pretrained else None)
             for m in training_order(models)]
    pretrained = {m.name: m.pretrained for m in models if m.pretrained}
    with _step('training', work_dir / 'train'):
        if gpus > 1:
            done = [train_model(d, work_dir / 'train' / d.name, pretrained.get(d.name), gpus)
                    for d in jobs_]
        else:
            done = train_models(jobs_, work_dir / 'train', jobs, on_step, pretrained)
    by_name = {d.name: t for d, t in zip(jobs_, done)}
    trained = [by_name[m.name] for m in models]
    step_s['train'] = time.perf_counter() - start

    start = time.perf_counter()
    on_step('[3/4] deploy, verify, evaluate and time every model on '
            + ', '.join(options.backends))
    options = BenchmarkOptions(**{**options.__dict__, 'deploy_configs': deploys})
    specs = [ModelSpec(m.config, t['checkpoint'], m.name) for m, t in zip(models, trained)]

    def show(row):
        from ..benchmark.report import accuracy_text
        on_step(f"      {row['name']} {row['backend']} {row['precision']}: e2e "
                f"{row['e2e_opt']['mean_ms']:.1f} ms; {accuracy_text(row)}")
    with _step('the benchmark (deploy, verify, evaluate, time)', work_dir):
        rows = run_benchmark(specs, work_dir, options, on_row=show)
    step_s['benchmark'] = time.perf_counter() - start

    on_step('[4/4] report')
    misses = check_targets(rows, targets) if targets else []
    warning = start_warning(models)
    extra = ['## TRT-ViT vs ResNet-50 (same head, data, schedule and images)', '',
             *([warning, ''] if warning else []), compare_table(rows), '', '## The data', '']
    for task, summary in data_summary.items():
        extra += [f"- {task}: {len(summary['classes'])} classes, "
                  + ', '.join(f"{s} {v['images']} images" for s, v in summary['splits'].items())
                  + f", sizes {summary['image_size']}"]
        extra += [f'  - {note}' for note in summary['notes']]
    extra += ['', '## Training', '']
    from ..utils.markdown import markdown_table
    extra += [markdown_table(
        ['model', 'config', 'backbone init', 'iterations', 's per iteration', 'training s'], [
            [t['name'], t['config'], m.init, str(t.get('iterations') or '-'),
             '-' if t.get('iteration_s') is None else f"{t['iteration_s']:.2f}",
             f"{t['train_s']:.0f}" + (' (earlier run)' if t.get('reused') else '')]
            for m, t in zip(models, trained)]), '']
    if jobs > 1 and gpus <= 1 and len(trained) > 1:
        extra += [f'{min(jobs, len(trained))} trainings at a time, '
                  f'{max(1, (os.cpu_count() or 1) // jobs)} thread(s) each.', '']
    extra += ['## The benchmark step', '', format_time_table(rows), '']
    steps = ', '.join(f'{k} {v:.0f} s' for k, v in step_s.items())
    extra += [f'Wall time of this run: {steps}, total {sum(step_s.values()) / 60:.1f} min.', '']
    if targets:
        extra += [('All accuracy targets met: ' if not misses else 'Missed targets: '
                   + '; '.join(misses) + '. Targets: ')
                  + ', '.join(f'{n} {k} >= {v:g}' for n, (k, v) in targets.items()) + '.', '']
    extra += ['## Next', '', next_commands(models, Path(deploys[models[0].task]), trained)]
    reports = write_reports(rows, work_dir, title=title, extra_md='\n'.join(extra),
                            extra_json=dict(compare=dict(
                                data=data_summary,
                                models=[m.__dict__ for m in models], train=trained,
                                step_s=step_s, misses=misses)))
    return CompareResult(data_summary, models, trained, rows, reports, step_s, misses)
