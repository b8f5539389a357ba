"""Pre-flight checks of a config against its model and data, before any training step.

mmdet/mmseg find most of these problems too, but late (an image that does not decode
fails in a data-loader worker after hours of training) or obscurely (a neck whose
``in_channels`` do not match the backbone fails inside a conv). Each check here raises
:class:`ConfigError` naming the config key or file and how to fix it.
"""
import json
import os
import os.path as osp
from typing import Dict, Iterable, List, Optional

import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import DefaultScope
from PIL import Image

from .config import (ConfigError, _describe_backbone, _models_registry, _needs_real_tensors,
                     dataset_leaves)

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
    for key in ('decode_head', 'auxiliary_head'):
        head = model.get(key)
        if not isinstance(head, dict) or 'in_channels' not in head:
            continue
        index = head.get('in_index', -1)
        if isinstance(index, int):
            expected = channels[index]
            given = head.in_channels
        else:
            expected = [channels[i] for i in index]
            given = list(head.in_channels)
        if given != expected:
            raise ConfigError(
                f'model.{key}.in_channels={given} does not match the outputs of '
                f'{backbone} at in_index={index}: {expected}; set '
                f'model.{key}.in_channels={expected}')


def _join(root: Optional[str], path: str) -> str:
    return path if root is None or osp.isabs(path) else osp.join(root, path)


def _check_image(path: str, what: str) -> None:
    if not osp.isfile(path):
        raise ConfigError(f'{what} {path!r} does not exist')
    try:
        with Image.open(path) as img:
            img.verify()  # header and structure, without decoding every pixel
    except Exception as e:  # PIL raises many types for broken files
        raise ConfigError(f'{what} {path!r} cannot be decoded ({e}); remove it from the '
                          'dataset or replace the file') from None


def load_coco_json(path: str, key: str) -> Dict:
    """Read a COCO instances file with errors that name it and the config key."""
    if not osp.isfile(path):
        raise ConfigError(f'annotation file {path!r} ({key}) does not exist; point '
                          f'{key} (or data_root) at your COCO-format JSON')
    try:
        with open(path) as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f'annotation file {path!r} ({key}) is not JSON: {e}') from None
    missing = [k for k in ('images', 'annotations', 'categories')
               if not isinstance(data, dict) or k not in data]
    if missing:
        raise ConfigError(f'annotation file {path!r} ({key}) is not COCO instances JSON: '
                          f'missing {missing}')
    return data


def _check_coco(ds: ConfigDict, key: str, scored: bool = True) -> None:
    root = ds.get('data_root')
    ann_path = _join(root, ds.ann_file)
    data = load_coco_json(ann_path, f'{key}.ann_file')
    if not data['images']:
        raise ConfigError(f'annotation file {ann_path!r} ({key}) lists no images')
    if scored and not data['annotations']:
        # mmdet would drop every training image (filter_empty_gt) and fail on an empty
        # dataset, or score nothing against no ground truth.
        raise ConfigError(f'annotation file {ann_path!r} ({key}) has an empty annotation '
                          'list: nothing to train on or score against; point it at the '
                          'annotated JSON (or set the evaluator format_only=True to only '
                          'predict)')
    names = {c['id']: c['name'] for c in data['categories']}
    for ann in data['annotations']:
        if ann.get('category_id') not in names:
            raise ConfigError(
                f'annotation {ann.get("id")} in {ann_path!r} has category_id '
                f'{ann.get("category_id")!r}, which is not among its categories '
                f'{sorted(names)}; fix the file or add the category')
    image_ids = {img['id'] for img in data['images']}
    for ann in data['annotations']:
        if ann.get('image_id') not in image_ids:
            raise ConfigError(f'annotation {ann.get("id")} in {ann_path!r} refers to '
                              f'image_id {ann.get("image_id")!r}, which is not listed in '
                              'its images; add the image or remove the annotation')
    classes = (ds.get('metainfo') or {}).get('classes')
    if classes is not None:
        unknown = [c for c in classes if c not in names.values()]
        if unknown:
            raise ConfigError(f'{key}.metainfo.classes {unknown} are not categories of '
                              f'{ann_path!r} (it has {sorted(names.values())})')
        # mmdet silently drops annotations whose category is not in metainfo.classes.
        dropped = sorted({names[a['category_id']] for a in data['annotations']
                          if names[a['category_id']] not in classes})
        if dropped:
            raise ConfigError(
                f'{ann_path!r} has annotations of categories {dropped} that are not in '
                f'{key}.metainfo.classes {list(classes)}; add them to the classes (and '
                'num_classes) or remove those annotations from the file')
    img_dir = _join(root, (ds.get('data_prefix') or {}).get('img', ''))
    if not osp.isdir(img_dir):
        raise ConfigError(f'image folder {img_dir!r} ({key}.data_prefix.img) does not '
                          'exist; set data_root / data_prefix to your images')
    for img in data['images']:
        _check_image(osp.join(img_dir, img['file_name']), f'image of {ann_path!r}')


def _check_seg(ds: ConfigDict, key: str) -> None:
    root = ds.get('data_root')
    prefix = ds.get('data_prefix') or {}
    img_dir = _join(root, prefix.get('img_path', ''))
    seg_dir = _join(root, prefix.get('seg_map_path', ''))
    for path, name in ((img_dir, 'img_path'), (seg_dir, 'seg_map_path')):
        if not osp.isdir(path):
            raise ConfigError(f'folder {path!r} ({key}.data_prefix.{name}) does not exist; '
                              f'set {key}.data_root to your dataset (ADEChallengeData2016 '
                              'layout: images/ and annotations/)')
    img_suffix = ds.get('img_suffix', '.jpg')
    seg_suffix = ds.get('seg_map_suffix', '.png')
    images = sorted(f for f in _walk(img_dir) if f.endswith(img_suffix))
    if not images:
        raise ConfigError(f'no {img_suffix} images in {img_dir!r} ({key})')
    for rel in images:
        _check_image(osp.join(img_dir, rel), 'image')
        seg = osp.join(seg_dir, rel[:-len(img_suffix)] + seg_suffix)
        _check_image(seg, f'label map of image {rel!r}')


IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')


def _classification_layout(ds: ConfigDict) -> tuple:
    """(image folder, annotation list or None) that mmpretrain's ImageNet/CustomDataset
    read: ``data_prefix`` (default: the ``split`` folder) under ``data_root``, and
    ``ann_file`` (ImageNet's default: ``meta/<split>.txt`` when it exists)."""
    root = ds.get('data_root') or ''
    split = ds.get('split') or ''
    prefix = ds.get('data_prefix') or ''
    if isinstance(prefix, dict):
        prefix = prefix.get('img_path', '')
    prefix = prefix or split
    ann_file = ds.get('ann_file') or ''
    if not ann_file and split and osp.isfile(osp.join(root, 'meta', f'{split}.txt')):
        ann_file = osp.join('meta', f'{split}.txt')
    return _join(root, prefix), (_join(root, ann_file) if ann_file else None)


def _check_classification(ds: ConfigDict, key: str) -> None:
    img_dir, ann_path = _classification_layout(ds)
    if not osp.isdir(img_dir):
        raise ConfigError(f'image folder {img_dir!r} ({key}.data_root / data_prefix / split) '
                          'does not exist; point data_root at your dataset (ImageNet layout: '
                          'train/, val/, meta/{train,val}.txt)')
    classes = ds.get('classes') or (ds.get('metainfo') or {}).get('classes')
    if isinstance(classes, str):  # a file of class names, one per line
        with open(_join(ds.get('data_root'), classes)) as f:
            classes = [line.strip() for line in f if line.strip()]
    if ann_path is None:
        # mmpretrain's folder layout: one subfolder per class, images inside
        folders = sorted(d for d in os.listdir(img_dir) if osp.isdir(osp.join(img_dir, d)))
        if not folders:
            raise ConfigError(f'{img_dir!r} ({key}) has no class folders and the dataset '
                              'names no ann_file; give one folder per class or meta/<split>.txt')
        if classes is not None and len(classes) != len(folders):
            raise ConfigError(f'{key} names {len(classes)} classes but {img_dir!r} has '
                              f'{len(folders)} class folders {folders[:5]}...; make them agree')
        files = [osp.join(d, f) for d in folders for f in sorted(os.listdir(osp.join(img_dir, d)))
                 if f.lower().endswith(IMAGE_SUFFIXES)]
        if not files:
            raise ConfigError(f'no images in the class folders of {img_dir!r} ({key})')
        for rel in files:
            _check_image(osp.join(img_dir, rel), 'image')
        return
    if not osp.isfile(ann_path):
        raise ConfigError(f'annotation list {ann_path!r} ({key}.ann_file) does not exist')
    with open(ann_path) as f:
        lines = [(n, line.split()) for n, line in enumerate(f, 1) if line.strip()]
    if not lines:
        raise ConfigError(f'annotation list {ann_path!r} ({key}) lists no images')
    for number, parts in lines:
        where = f'line {number} of {ann_path!r}'
        if len(parts) < 2 or not parts[-1].lstrip('-').isdigit():
            raise ConfigError(f'{where} is not "<image path> <label>": {" ".join(parts)!r}')
        label = int(parts[-1])
        if label < 0 or (classes is not None and label >= len(classes)):
            count = 'any' if classes is None else len(classes)
            raise ConfigError(f'{where} has label {label}, outside the {count} classes of '
                              f'{key} (0..{len(classes) - 1 if classes else "N-1"}); fix the '
                              'label or the classes')
        _check_image(osp.join(img_dir, ' '.join(parts[:-1])), f'image of {where}')


def _walk(folder: str) -> List[str]:
    out = []
    for base, _, files in os.walk(folder):
        out += [osp.relpath(osp.join(base, f), folder) for f in files]
    return out


def check_dataset(ds: ConfigDict, key: str, scored: bool = True) -> None:
    """Check the files one dataset config reads (COCO-style, segmentation folders or an
    mmpretrain classification dataset); ``scored``: its annotations are trained on or
    evaluated, so they must not be empty."""
    for leaf in dataset_leaves(ds):
        prefix = leaf.get('data_prefix') or {}
        if 'ann_file' in leaf and str(leaf.ann_file).endswith('.json'):
            _check_coco(leaf, key, scored)
        elif isinstance(prefix, dict) and 'seg_map_path' in prefix:
            _check_seg(leaf, key)
        elif leaf.get('type') in CLASSIFICATION_DATASETS:
            _check_classification(leaf, key)
        else:
            raise ConfigError(f'{key} (type {leaf.get("type")!r}) is neither COCO-style '
                              '(ann_file *.json), a segmentation folder dataset '
                              '(data_prefix.seg_map_path) nor a classification dataset '
                              f'{CLASSIFICATION_DATASETS}; trtvit-dense cannot check it')


# mmpretrain's datasets in the ImageNet / class-folder layouts
CLASSIFICATION_DATASETS = ('ImageNet', 'CustomDataset', 'ImageNet21k')


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
