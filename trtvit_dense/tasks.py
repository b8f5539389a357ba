"""The tasks trtvit-dense runs: one :class:`Task` entry each, the one vocabulary of task
names, and everything a layer asks of a task.

A model config belongs to the task of its ``default_scope`` (``mmdet``, ``mmseg`` or
``mmpretrain``).
What the task fixes lives here: the evaluator's headline metrics and how they read in
points, the default deploy config, how ``tools/test.py`` dumps predictions and paints
them. The deploy side of a task (its export wrapper, host post-processing and
verification comparison) is the module ``trtvit_dense.deploy.tasks.<name>``, reached
through :attr:`Task.deploy` when first used, so this module imports nothing above the
ground floor. Adding a task is one entry in :data:`TASKS` and one deploy module.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

__all__ = ['Task', 'TASKS', 'TASK_NAMES', 'get_task', 'task_of_scope']


@dataclass(frozen=True)
class Task:
    """One task.

    Args:
        name: the task's name everywhere (deploy configs, manifests, reports).
        scope: the OpenMMLab scope of its model configs (``default_scope``).
        title: what users call it.
        metrics: the evaluator's metrics a report keeps, as ``(key, scale)``: the last
            part of the evaluator's key (``coco/bbox_mAP`` -> ``bbox_mAP``) and the
            factor that makes it points (COCO mAP is a fraction, mmseg reports percent).
        primary_metric: the headline metric (Pareto plots, targets, comparisons).
        deploy_config: the default deploy config, a package config path
            (:func:`trtvit_dense.config.package_config`).
        predictions: what ``tools/test.py --out`` writes: ``'pkl'`` (the dumped
            results of the metric ``dump_metric``) or ``'label_png'`` (mmseg's one label
            map per image in a folder; ``tools/infer.py`` writes one per image too).
        dump_metric: ``'module:Class'`` of the metric that dumps ``'pkl'`` predictions
            (mmdet's ``DumpDetResults``, mmengine's ``DumpResults``); None otherwise.
        visualizer: the scope's visualiser that paints a prediction (a config dict for
            its ``VISUALIZERS`` registry).
    """

    name: str
    scope: str
    title: str
    metrics: tuple[tuple[str, float], ...]
    primary_metric: str
    deploy_config: str
    predictions: str
    visualizer: dict
    dump_metric: str | None = None

    @property
    def deploy(self) -> ModuleType:
        """The task's deploy module (:mod:`trtvit_dense.deploy.tasks`): export wrapper,
        host post-processing, verification comparison."""
        return importlib.import_module(f'trtvit_dense.deploy.tasks.{self.name}')

    def dump_results(self, out_file_path: str):
        """The metric that writes this task's ``'pkl'`` predictions to ``out_file_path``."""
        if self.dump_metric is None:
            raise ValueError(f'the {self.name} task writes {self.predictions!r} predictions, '
                             'not a results pickle')
        module, name = self.dump_metric.split(':')
        return getattr(importlib.import_module(module), name)(out_file_path=out_file_path)

    def accuracy_points(self, metrics: dict) -> dict:
        """The evaluator's ``metrics`` this task reports, as points: COCO mAP x 100,
        mmseg's percentages as they are."""
        scales = dict(self.metrics)
        out = {}
        for key, value in metrics.items():
            short = key.split('/')[-1]
            if short in scales:
                out[short] = scales[short] * float(value)
        return out


TASKS: dict[str, Task] = {t.name: t for t in (
    Task(name='detection', scope='mmdet', title='object detection / instance segmentation',
         metrics=(('bbox_mAP', 100.0), ('segm_mAP', 100.0)), primary_metric='bbox_mAP',
         deploy_config='deploy/detection_dynamic-320x320-1344x1344.py', predictions='pkl',
         visualizer=dict(type='DetLocalVisualizer'),
         dump_metric='mmdet.evaluation:DumpDetResults'),
    Task(name='segmentation', scope='mmseg', title='semantic segmentation',
         metrics=(('mIoU', 1.0), ('aAcc', 1.0), ('mAcc', 1.0)), primary_metric='mIoU',
         deploy_config='deploy/segmentation_dynamic-256x256-1024x1024.py',
         predictions='label_png', visualizer=dict(type='SegLocalVisualizer', alpha=0.5)),
    # mmpretrain's Accuracy reports percent (accuracy/top1, accuracy/top5)
    Task(name='classification', scope='mmpretrain', title='image classification',
         metrics=(('top1', 1.0), ('top5', 1.0)), primary_metric='top1',
         deploy_config='deploy/classification_dynamic-128x128-384x384.py', predictions='pkl',
         visualizer=dict(type='UniversalVisualizer'),
         dump_metric='mmengine.evaluator:DumpResults'),
)}
TASK_NAMES = tuple(TASKS)
_SCOPES = {t.scope: t for t in TASKS.values()}


def get_task(name: str) -> Task:
    """The task called ``name``; ValueError naming the tasks otherwise."""
    if name not in TASKS:
        raise ValueError(f'task must be one of {TASK_NAMES}, got {name!r}')
    return TASKS[name]


def task_of_scope(scope: str | None) -> Task | None:
    """The task whose model configs have ``default_scope == scope`` (None if none)."""
    return _SCOPES.get(scope)
