"""Pre-flight checks of a config against its model and data, before any training step.

mmdet/mmseg find most of these problems too, but late (an image that does not decode
fails in a data-loader worker after hours of training) or obscurely (a neck whose
``in_channels`` do not match the backbone fails inside a conv). Each check raises
:class:`ConfigError` naming the config key or file and how to fix it; the data is
checked by the data layer's rules (:mod:`trtvit_dense.datasets.preflight`).
"""
from typing import Iterable, List

import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import DefaultScope

from .config import ConfigError, _describe_backbone, _models_registry, _needs_real_tensors
from .datasets.preflight import check_dataset, load_coco_json

__all__ = ['check_config', 'check_channels', 'check_dataset', 'check_loader',
           'backbone_out_channels', 'load_coco_json']


def backbone_out_channels(cfg: Config) -> List[int]:
    """Channels of each backbone output, from a forward pass on the meta device.

    Works for any backbone (TRT-ViT, ResNet, ...) without allocating weights.
    """
    scope = cfg.get('default_scope', 'mmdet')
    backbone_cfg = cfg.model.backbone.copy()
    backbone_cfg.pop('init_cfg', None)
    with DefaultScope.overwrite_default_scope(scope):
        try:
            with torch.device('meta'):
                backbone = _models_registry(scope).build(backbone_cfg)
        except Exception as e:  # noqa: BLE001
            if not _needs_real_tensors(e):
                raise
            # mmpretrain's ResNet reads its drop-path rates from a tensor
            backbone = _models_registry(scope).build(backbone_cfg).to('meta')
        backbone.eval()  # not chained: mmdet's ResNet.train() returns None
        with torch.no_grad(), torch.device('meta'):
            outs = backbone(torch.empty(1, 3, 64, 64))
    return [int(o.shape[1]) for o in outs]


def check_channels(cfg: Config) -> None:
    """The neck / decode heads must read the channels the backbone produces."""
    channels = backbone_out_channels(cfg)
    model = cfg.model
    backbone = _describe_backbone(cfg)
    if 'neck' in model and isinstance(model.neck, dict) and 'in_channels' in model.neck:
        if list(model.neck.in_channels) != channels:
            raise ConfigError(
                f'model.neck.in_channels={list(model.neck.in_channels)} does not match '
                f'the outputs of {backbone}: {channels}; set model.neck.in_channels='
                f'{channels}')
    head = model.get('head')
    neck = model.get('neck') or {}
    if (isinstance(head, dict) and 'in_channels' in head and isinstance(neck, dict)
            and neck.get('type', 'GlobalAveragePooling') == 'GlobalAveragePooling'):
        # a classifier: the pooled last backbone output feeds the head
        if head.in_channels != channels[-1]:
            raise ConfigError(
                f'model.head.in_channels={head.in_channels} does not match the last output '
                f'of {backbone}: {channels[-1]} channels; set model.head.in_channels='
                f'{channels[-1]}')
    # a segmentor's heads read the neck's outputs when it has one (Semantic FPN's FPN)
    feeds, source = channels, backbone
    if isinstance(neck, dict) and 'out_channels' in neck and 'decode_head' in model:
        feeds = [neck['out_channels']] * neck.get('num_outs', len(channels))
        source = f"the neck ({neck.get('type')})"
    for key in ('decode_head', 'auxiliary_head'):
        head = model.get(key)
        if not isinstance(head, dict) or 'in_channels' not in head:
            continue
        index = head.get('in_index', -1)
        if isinstance(index, int):
            expected = feeds[index]
            given = head.in_channels
        else:
            expected = [feeds[i] for i in index]
            given = list(head.in_channels)
        if given != expected:
            raise ConfigError(
                f'model.{key}.in_channels={given} does not match the outputs of '
                f'{source} at in_index={index}: {expected}; set '
                f'model.{key}.in_channels={expected}')


def check_loader(loader: ConfigDict, key: str) -> None:
    """A dataloader's ``batch_size`` must be an int >= 1 and ``num_workers`` an int >= 0
    (torch's DataLoader would stop with a traceback, after the runner was built)."""
    for name, low, meaning in (('batch_size', 1, 'images per process'),
                               ('num_workers', 0, 'data-loading processes')):
        if name not in loader:
            continue
        value = loader[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f'{key}.{name}={value!r} must be an integer >= {low} '
                              f'({meaning}); fix the config or pass --cfg-options '
                              f'{key}.{name}={max(low, 1) if name == "batch_size" else 0}')


def check_config(cfg: Config, splits: Iterable[str] = ('train', 'val', 'test')) -> None:
    """All pre-flight checks: model channels, then the loader settings and data of each
    split in use."""
    check_channels(cfg)
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if loader is None or (split != 'train' and cfg.get(f'{split}_cfg') is None):
            continue
        check_loader(loader, f'{split}_dataloader')
        evaluator = cfg.get(f'{split}_evaluator')
        format_only = isinstance(evaluator, dict) and evaluator.get('format_only', False)
        check_dataset(loader.dataset, f'{split}_dataloader.dataset', scored=not format_only)
        if isinstance(evaluator, dict) and evaluator.get('ann_file'):
            load_coco_json(evaluator.ann_file, f'{split}_evaluator.ann_file')
