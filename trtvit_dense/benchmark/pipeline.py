"""End-to-end inference of one image through a deployed model, timed by stage.

The stages are those a product runs per image:

* ``decode``: ``LoadImageFromFile`` of the config's test pipeline;
* ``pre``: the remaining test transforms (resize, packing) and the model's data
  preprocessor (BGR->RGB, normalisation, padding) up to the network input;
* ``model``: the backend call (graph or engine) on that input;
* ``post``: host post-processing (boxes rescaled to the original image, masks pasted,
  segmentation resized), the task's ``attach_predictions`` (:mod:`trtvit_dense.deploy.tasks`).

Annotation loading (``LoadAnnotations``) is part of the test pipeline only so the
evaluator gets ground truth; it is run but not timed. Every backend, PyTorch included,
goes through the same host code, so differences between rows are the backends'.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from ..config import ANNOTATION_LOADERS, split_transforms, task_of
from ..deploy.backends import Backend
from ..deploy.config import DeployConfig
from ..registry import MODELS

__all__ = ['STAGES', 'StageTimes', 'InferencePipeline']

STAGES = ('decode', 'pre', 'model', 'post')
UNTIMED_TRANSFORMS = ANNOTATION_LOADERS


@dataclass
class StageTimes:
    decode: float = 0.0
    pre: float = 0.0
    model: float = 0.0
    post: float = 0.0

    @property
    def total(self) -> float:
        return self.decode + self.pre + self.model + self.post


class InferencePipeline:
    """Runs images through ``cfg``'s test pipeline, data preprocessor, ``backend`` and
    the post-processing, timing each stage.

    ``cfg`` is the model config; ``split`` picks its ``test`` or ``val`` dataloader's
    pipeline. ``deploy_cfg`` (optional) checks every network input against the profile
    so a shape outside it is a clear error before the backend sees it.
    """

    def __init__(self, cfg: Config, backend: Backend, split: str = 'test',
                 deploy_cfg: DeployConfig | None = None):
        init_default_scope(cfg.default_scope)
        self.task = task_of(cfg)
        self.backend = backend
        self.deploy_cfg = deploy_cfg
        # starts with LoadImageFromFile (ConfigError otherwise): its time is `decode`
        self.transforms = split_transforms(cfg, split)
        self.data_preprocessor = MODELS.build(cfg.model.data_preprocessor)
        self.model_cfg = cfg.model

    def _pipeline(self, info: dict, times: StageTimes, annotations: bool) -> dict:
        results = dict(info)
        for i, transform in enumerate(self.transforms):
            if not annotations and type(transform).__name__ in UNTIMED_TRANSFORMS:
                continue
            t0 = time.perf_counter()
            results = transform(results)
            dt = time.perf_counter() - t0
            if results is None:
                raise ValueError(f'{type(transform).__name__} dropped '
                                 f'{info.get("img_path")} (the test pipeline must keep '
                                 'every image)')
            name = type(transform).__name__
            if i == 0:
                times.decode += dt
            elif name not in UNTIMED_TRANSFORMS:
                times.pre += dt
        return results

    @torch.no_grad()
    def __call__(self, info: dict, annotations: bool = True) -> tuple[list, StageTimes]:
        """Infer one dataset item (``dataset.get_data_info(i)``); returns
        ``(data_samples, times)``. With ``annotations=False`` the annotation loaders are
        left out, so a bare ``{'img_path': ..., 'img_id': ...}`` is enough."""
        times = StageTimes()
        data = self._pipeline(info, times, annotations)
        t0 = time.perf_counter()
        batch = self.data_preprocessor(pseudo_collate([data]), False)
        x = np.ascontiguousarray(batch['inputs'].float().cpu().numpy())
        times.pre += time.perf_counter() - t0
        if self.deploy_cfg is not None:
            self.deploy_cfg.check_shape(x.shape, what=f'input of {info.get("img_path")}')
        t0 = time.perf_counter()
        outputs = self.backend(x)
        times.model = time.perf_counter() - t0
        t0 = time.perf_counter()
        samples = self.task.deploy.attach_predictions(outputs, batch['data_samples'],
                                                      self.model_cfg)
        times.post = time.perf_counter() - t0
        self.last_input_shape = tuple(x.shape)
        return samples, times
