"""The data a config reads, checked before its first training or evaluation step
(``tools/train.py``, ``test.py``, ``benchmark.py``, the compare command's written configs).

The same rules as the compare command's data check (:mod:`.rules`), applied to files
the tools must not rewrite: a defect that crashes mmdet/mmseg or pycocotools or makes
them train or evaluate on wrong data is refused in one line (naming the file, the ids,
and that ``tools/compare.py --check-only`` writes a repaired copy); one they handle is
logged as a warning.
"""
from __future__ import annotations

import logging
import os
import os.path as osp
from typing import List, Optional

from mmengine.config import ConfigDict
import numpy as np
from PIL import Image

from ..config import dataset_leaves
from .coco import clean_coco, read_coco_json
from .images import is_image_file, probe_image
from .rules import AS_IS, RULES, DataError, Findings

__all__ = ['check_dataset', 'check_coco_file', 'load_coco_json', 'CLASSIFICATION_DATASETS']

logger = logging.getLogger(__name__)

# mmpretrain's datasets in the ImageNet / class-folder layouts
CLASSIFICATION_DATASETS = ('ImageNet', 'CustomDataset', 'ImageNet21k')
REFUSED_AS_IS = ('crash', 'wrong')  # what a file used as it is must not hold
# what only COCOeval trips on, and mmdet's training handles itself (LoadAnnotations drops
# polygons of fewer than 3 points or odd length and gives an object left without one a
# fake, ignored mask; parse_data_info skips boxes under 1 px or outside the image, areas
# of 0 and "ignore" objects, and reads iscrowd with a default): in a training set (COCO's
# train2017 has a few) a warning; where COCOeval reads the file, the rule's verdict
AS_IS_IN_TRAINING = {'polygon-too-few-points': 'skipped', 'polygon-odd-length': 'skipped',
                     'mask-unusable': 'skipped', 'bbox-degenerate': 'skipped',
                     'bbox-outside': 'skipped', 'bbox-clipped': 'fine',
                     'area-not-positive': 'skipped', 'ignore-flag': 'skipped',
                     'iscrowd-missing': 'fine'}


def _join(root: Optional[str], path: str) -> str:
    return path if root is None or osp.isabs(path) else osp.join(root, path)


def _check_image(path: str, what: str):
    """The probe of an image whose header reads (else the one-line refusal); headers
    only, as the tools may check ImageNet's 1.3M files before a training."""
    probe = probe_image(path, full=False)
    if probe.error == 'missing':
        raise DataError(f'{what} {path!r} does not exist')
    if probe.error:
        raise DataError(f'{what} {path!r} cannot be decoded ({probe.error}'
                        + (f': {probe.detail}' if probe.detail else '')
                        + '); remove it from the dataset or replace the file')
    return probe


def load_coco_json(path: str, key: str) -> dict:
    """Read a COCO instances file with errors that name it and the config key."""
    if not osp.isfile(path):
        raise DataError(f'annotation file {path!r} ({key}) does not exist; point '
                        f'{key} (or data_root) at your COCO-format JSON')
    return read_coco_json(path, name=f'annotation file {path!r} ({key})')


def _verdict(found: Findings, training: bool) -> None:
    """Refuse what the tools would crash on or get wrong; warn about the rest."""
    for code, refs in found.hits.items():
        rule = RULES[code]
        if rule.action in ('noted', 'refused'):
            continue
        as_is = AS_IS_IN_TRAINING.get(code, rule.as_is) if training else rule.as_is
        refs = [r for r in refs if r is not None]
        shown = ', '.join(map(str, refs[:3])) + (' ...' if len(refs) > 3 else '')
        what = f'{found.where}: {len(refs)} {rule.defect}' + (f' (e.g. {shown})' if refs else '')
        if as_is in REFUSED_AS_IS:
            raise rule.error(f'{what}: as they are, this {AS_IS[as_is]}',
                             'fix the file, or let tools/compare.py --check-only write a '
                             'repaired copy (it says what it changed)')
        logger.warning('%s: this %s [%s]', what, AS_IS[as_is], code)


def check_coco_file(ann_path: str, img_dir: str, key: str, scored: bool = True,
                    classes=None, masks: bool | None = None, training: bool = False) -> dict:
    """Check one COCO dataset of a config as it is (``training``: the training set,
    which COCOeval never reads); returns the parsed file."""
    data = load_coco_json(ann_path, f'{key}.ann_file')
    if not data['images']:
        raise DataError(f'annotation file {ann_path!r} ({key}) lists no images')
    if scored and not data['annotations']:
        # mmdet would drop every training image (filter_empty_gt) and fail on an empty
        # dataset, or score nothing against no ground truth.
        raise DataError(f'annotation file {ann_path!r} ({key}) has an empty annotation '
                        'list: nothing to train on or score against; point it at the '
                        'annotated JSON (or set the evaluator format_only=True to only '
                        'predict)')
    if not osp.isdir(img_dir):
        raise DataError(f'image folder {img_dir!r} ({key}.data_prefix.img) does not '
                        'exist; set data_root / data_prefix to your images')
    found = Findings(f'{ann_path!r} ({key})')
    # the check's verdict on the file as it is (its repaired copy is not used here)
    clean_coco(data, img_dir, found, masks, full=False)
    _verdict(found, training)
    names = {c['id']: c['name'] for c in data['categories']}
    if classes is not None:
        unknown = [c for c in classes if c not in names.values()]
        if unknown:
            raise DataError(f'{key}.metainfo.classes {unknown} are not categories of '
                            f'{ann_path!r} (it has {sorted(names.values())})')
        # mmdet silently drops annotations whose category is not in metainfo.classes.
        dropped = sorted({names[a['category_id']] for a in data['annotations']
                          if names.get(a['category_id']) not in classes})
        if dropped:
            raise DataError(
                f'{ann_path!r} has annotations of categories {dropped} that are not in '
                f'{key}.metainfo.classes {list(classes)}; add them to the classes (and '
                'num_classes) or remove those annotations from the file')
    return data


def _walk(folder: str) -> List[str]:
    out = []
    for base, _, files in os.walk(folder):
        out += [osp.relpath(osp.join(base, f), folder) for f in files]
    return out


def _check_seg(ds: ConfigDict, key: str) -> None:
    root = ds.get('data_root')
    prefix = ds.get('data_prefix') or {}
    img_dir = _join(root, prefix.get('img_path', ''))
    seg_dir = _join(root, prefix.get('seg_map_path', ''))
    for path, name in ((img_dir, 'img_path'), (seg_dir, 'seg_map_path')):
        if not osp.isdir(path):
            raise DataError(f'folder {path!r} ({key}.data_prefix.{name}) does not exist; '
                            f'set {key}.data_root to your dataset (ADEChallengeData2016 '
                            'layout: images/ and annotations/)')
    defaults = _dataset_defaults(ds)
    img_suffix = ds.get('img_suffix', defaults.get('img_suffix', '.jpg'))
    seg_suffix = ds.get('seg_map_suffix', defaults.get('seg_map_suffix', '.png'))
    classes = (ds.get('metainfo') or {}).get('classes')
    zero = ds.get('reduce_zero_label', defaults.get('reduce_zero_label', False))
    ignored = ds.get('ignore_index', defaults.get('ignore_index', 255))
    # the label values that are classes: 1..n with reduce_zero_label (0 ignored), else
    # 0..n-1 (ignore_index ignored)
    first = 1 if zero else 0
    ann_file = ds.get('ann_file') or ''
    if ann_file:  # mmseg reads the stems the list names
        path = _join(root, ann_file)
        if not osp.isfile(path):
            raise DataError(f'annotation list {path!r} ({key}.ann_file) does not exist')
        with open(path) as f:
            images = [line.strip() + img_suffix for line in f if line.strip()]
    else:
        images = sorted(f for f in _walk(img_dir) if f.endswith(img_suffix))
    if not images:
        raise DataError(f'no {img_suffix} images in {img_dir!r} ({key})')
    for rel in images:
        image = _check_image(osp.join(img_dir, rel), 'image')
        seg = osp.join(seg_dir, rel[:-len(img_suffix)] + seg_suffix)
        _check_image(seg, f'label map of image {rel!r}')
        with Image.open(seg) as label:  # mmseg reads label maps with Pillow, unchanged
            bands, size = len(label.getbands()), label.size
            values = np.unique(np.asarray(label)) if classes and bands == 1 else []
        if label.mode != 'P' and bands != 1:
            raise RULES['label-not-single-channel'].error(
                f'label map {seg!r} ({key}) has {bands} channels')
        if size != (image.width, image.height):
            turned = ' (turned by its EXIF orientation)' if image.rotated else ''
            raise RULES['label-size-mismatch'].error(
                f'label map {seg!r} ({key}) is {size[0]}x{size[1]} but its image {rel!r} is '
                f'{image.width}x{image.height}{turned}')
        bad = [int(v) for v in values if v != (0 if zero else ignored)
               and not first <= v < first + len(classes)]
        if bad:
            raise RULES['label-values'].error(
                f'label map {seg!r} ({key}) has values {bad[:5]} outside the {len(classes)} '
                f'classes of {key}.metainfo ({first}..{first + len(classes) - 1}, '
                f'{0 if zero else ignored} = ignored)')


def _dataset_defaults(ds: ConfigDict) -> dict:
    """The keyword defaults of the dataset class ``ds`` names (mmseg's ADE20KDataset:
    img_suffix='.jpg', reduce_zero_label=True, ...), or {} when it cannot be found."""
    import inspect
    try:
        from mmseg.registry import DATASETS
        cls = DATASETS.get(ds.get('type'))
    except Exception:  # noqa: BLE001 - mmseg missing or the type unknown: plain defaults
        return {}
    if cls is None:
        return {}
    return {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items()
            if p.default is not inspect.Parameter.empty}


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
        raise DataError(f'image folder {img_dir!r} ({key}.data_root / data_prefix / split) '
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
            raise DataError(f'{img_dir!r} ({key}) has no class folders and the dataset '
                            'names no ann_file; give one folder per class or meta/<split>.txt')
        if classes is not None and len(classes) != len(folders):
            raise DataError(f'{key} names {len(classes)} classes but {img_dir!r} has '
                            f'{len(folders)} class folders {folders[:5]}...; make them agree')
        files = [osp.join(d, f) for d in folders for f in sorted(os.listdir(osp.join(img_dir, d)))
                 if is_image_file(f)]
        if not files:
            raise DataError(f'no images in the class folders of {img_dir!r} ({key})')
        for rel in files:
            _check_image(osp.join(img_dir, rel), 'image')
        return
    if not osp.isfile(ann_path):
        raise DataError(f'annotation list {ann_path!r} ({key}.ann_file) does not exist')
    with open(ann_path) as f:
        lines = [(n, line.split()) for n, line in enumerate(f, 1) if line.strip()]
    if not lines:
        raise DataError(f'annotation list {ann_path!r} ({key}) lists no images')
    for number, parts in lines:
        where = f'line {number} of {ann_path!r}'
        if len(parts) < 2 or not parts[-1].lstrip('-').isdigit():
            raise DataError(f'{where} is not "<image path> <label>": {" ".join(parts)!r}')
        label = int(parts[-1])
        if label < 0 or (classes is not None and label >= len(classes)):
            count = 'any' if classes is None else len(classes)
            raise DataError(f'{where} has label {label}, outside the {count} classes of '
                            f'{key} (0..{len(classes) - 1 if classes else "N-1"}); fix the '
                            'label or the classes')
        _check_image(osp.join(img_dir, ' '.join(parts[:-1])), f'image of {where}')


def check_dataset(ds: ConfigDict, key: str, scored: bool = True,
                  masks: bool | None = None) -> None:
    """Check the files one dataset config reads (COCO-style, segmentation folders or an
    mmpretrain classification dataset); ``scored``: its annotations are trained on or
    evaluated, so they must not be empty; ``masks``: the model trains masks."""
    for leaf in dataset_leaves(ds):
        prefix = leaf.get('data_prefix') or {}
        if 'ann_file' in leaf and str(leaf.ann_file).endswith('.json'):
            root = leaf.get('data_root')
            if masks is None:  # the pipeline says whether masks are loaded
                masks = any(step.get('type') == 'LoadAnnotations' and step.get('with_mask')
                            for step in leaf.get('pipeline') or ()) or None
            check_coco_file(_join(root, leaf.ann_file),
                            _join(root, (leaf.get('data_prefix') or {}).get('img', '')),
                            key, scored, (leaf.get('metainfo') or {}).get('classes'), masks,
                            training=key.startswith('train_'))
        elif isinstance(prefix, dict) and 'seg_map_path' in prefix:
            _check_seg(leaf, key)
        elif leaf.get('type') in CLASSIFICATION_DATASETS:
            _check_classification(leaf, key)
        else:
            raise DataError(f'{key} (type {leaf.get("type")!r}) is neither COCO-style '
                            '(ann_file *.json), a segmentation folder dataset '
                            '(data_prefix.seg_map_path) nor a classification dataset '
                            f'{CLASSIFICATION_DATASETS}; trtvit-dense cannot check it')
