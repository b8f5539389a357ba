"""A user's dataset, read and checked before anything trains (``tools/compare.py``).

Two layouts are read:

* **detection / instance segmentation**: a COCO instances JSON and its image folder, or
  separate train and val JSONs;
* **semantic segmentation**: ``images/`` and ``labels/`` folders with a ``classes.txt``
  (label PNG value ``i`` is line ``i`` of the class list, 255 is ignored), each folder
  either flat (split here) or with ``train/`` and ``val/`` inside; or the ADE20K layout
  with a class list;
* **classification**: mmpretrain's ImageNet layout, ``train/`` and ``val/`` with one
  folder per class (or ``meta/{train,val}.txt`` lists and a ``classes.txt``).

What real data brings is either handled, and said (:attr:`UserDataset.notes`), or
refused with one line naming the file and the fix (:class:`DataError`):

* category ids that are not contiguous (COCO's 1..90): mmdet maps them to labels in id
  order; handled;
* images without annotations: mmdet skips them in training, COCO scores them;
  handled;
* crowd annotations: ignored in training, crowd regions in COCO's evaluation; handled;
* classes without any instance: dropped from the classes, so that the head has no
  class it cannot learn; handled;
* label maps with values outside the class list, and images and label maps whose names
  do not match: refused;
* a validation split too small to evaluate (fewer than :data:`MIN_VAL_IMAGES` images):
  refused.

A single JSON (or flat folders) is split deterministically: every
``round(1 / val_fraction)``-th image in file-name order goes to validation.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..deploy.verify import IMAGE_EXTS, folder_images
from ..utils.atomic import atomic_write_bytes

__all__ = ['DataError', 'UserDataset', 'MIN_VAL_IMAGES', 'read_coco_dataset',
           'read_segmentation_dataset', 'read_classification_dataset', 'image_size_stats']

MIN_VAL_IMAGES = 4  # fewer validation images make a metric of noise


class DataError(ValueError):
    """A dataset that cannot be trained on as given (the message names file and fix)."""


@dataclass
class UserDataset:
    """A checked dataset: its task, classes, the files each split reads, what was
    handled (``notes``) and the image sizes (``sizes``: ``[N, 2]`` heights and widths of
    every image, training and validation)."""

    task: str
    classes: tuple[str, ...]
    root: Path
    splits: dict = field(default_factory=dict)  # split -> dict of paths and counts
    notes: list[str] = field(default_factory=list)
    sizes: np.ndarray | None = None

    def summary(self) -> dict:
        return dict(task=self.task, classes=list(self.classes), root=str(self.root),
                    splits=self.splits, notes=self.notes,
                    image_size=image_size_stats(self.sizes))


def image_size_stats(sizes: np.ndarray | None) -> dict:
    """Min, median and max of the heights and widths (pixels)."""
    if sizes is None or not len(sizes):
        return {}
    return {stat: [int(v) for v in fn(sizes, axis=0)]
            for stat, fn in (('min', np.min), ('median', np.median), ('max', np.max))}


def _read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise DataError(f'{what} {path} does not exist; give the path of your COCO '
                        'instances JSON')
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f'{what} {path} is not JSON: {e}') from None
    missing = [k for k in ('images', 'annotations', 'categories')
               if not isinstance(data, dict) or k not in data]
    if missing:
        raise DataError(f'{what} {path} is not a COCO instances file: it lacks {missing}')
    return data


def _check_references(data: dict, path: Path) -> None:
    """Every annotation names a listed category and a listed image."""
    names = {c['id'] for c in data['categories']}
    bad = next((a for a in data['annotations'] if a.get('category_id') not in names), None)
    if bad is not None:
        raise DataError(f'annotation {bad.get("id")} in {path} has category_id '
                        f'{bad.get("category_id")!r}, which is not among its categories '
                        f'{sorted(names)[:10]}; fix the file or add the category')
    known = {i['id'] for i in data['images']}
    bad = next((a for a in data['annotations'] if a.get('image_id') not in known), None)
    if bad is not None:
        raise DataError(f'annotation {bad.get("id")} in {path} refers to image_id '
                        f'{bad.get("image_id")!r}, which it does not list; add the image or '
                        'remove the annotation')


def _val_every(val_fraction: float) -> int:
    if not 0 < val_fraction < 1:
        raise DataError(f'--val-fraction must be between 0 and 1, got {val_fraction}')
    return max(2, round(1 / val_fraction))


def _check_images(img_dir: Path, names: Sequence[str], source: Path) -> None:
    missing = [n for n in names if not (img_dir / n).is_file()]
    if missing:
        raise DataError(f'{len(missing)} images listed in {source} are not in {img_dir} '
                        f'(e.g. {missing[0]}); point --images at the folder that holds '
                        'them or remove them from the JSON')


def _subset(data: dict, image_ids: set) -> dict:
    return dict(data, images=[i for i in data['images'] if i['id'] in image_ids],
                annotations=[a for a in data['annotations'] if a['image_id'] in image_ids])


def read_coco_dataset(ann_file: str | Path, img_dir: str | Path, out_dir: str | Path,
                      val_ann_file: str | Path | None = None,
                      val_img_dir: str | Path | None = None,
                      val_fraction: float = 0.2) -> UserDataset:
    """Read and check a COCO instances dataset; write the train/val JSONs the configs
    read into ``out_dir`` (a split of ``ann_file``, or both files with the categories
    that have instances). ``val_img_dir``: the validation images' folder when it is not
    ``img_dir``."""
    ann_file, img_dir, out_dir = Path(ann_file), Path(img_dir), Path(out_dir)
    val_img_dir = Path(val_img_dir) if val_img_dir is not None else img_dir
    for folder, flag in ((img_dir, '--images'), (val_img_dir, '--val-images')):
        if not folder.is_dir():
            raise DataError(f'image folder {folder} does not exist; give {flag}')
    train = _read_json(ann_file, 'annotation file')
    _check_references(train, ann_file)
    notes = []
    if val_ann_file is None:
        every = _val_every(val_fraction)
        images = sorted(train['images'], key=lambda i: i['file_name'])
        val_ids = {i['id'] for k, i in enumerate(images) if k % every == every - 1}
        data = {'train': _subset(train, {i['id'] for i in images} - val_ids),
                'val': _subset(train, val_ids)}
        notes.append(f'{ann_file.name} split into {len(data["train"]["images"])} training '
                     f'and {len(data["val"]["images"])} validation images (every '
                     f'{every}th image by file name)')
        sources = {'train': ann_file, 'val': ann_file}
    else:
        val_ann_file = Path(val_ann_file)
        data = {'train': train, 'val': _read_json(val_ann_file, 'validation annotation file')}
        _check_references(data['val'], val_ann_file)
        sources = {'train': ann_file, 'val': val_ann_file}
    names = {c['id']: c['name'] for c in train['categories']}
    for split, d in data.items():
        ids = {c['id'] for c in d['categories']}
        if ids != set(names):
            raise DataError(f'{sources[split]} and {ann_file} list other categories; give '
                            'both splits the same category list')
        _check_images(img_dir if split == 'train' else val_img_dir,
                      [i['file_name'] for i in d['images']], sources[split])
    if len(data['val']['images']) < MIN_VAL_IMAGES:
        raise DataError(f'the validation split has {len(data["val"]["images"])} images, '
                        f'fewer than {MIN_VAL_IMAGES}: too few to evaluate; give more '
                        'images, a larger --val-fraction or a --val-ann-file')
    ids = sorted(names)
    if ids != list(range(ids[0], ids[0] + len(ids))):
        notes.append(f'category ids {ids[0]}..{ids[-1]} are not contiguous '
                     f'({len(ids)} categories): mmdet maps them to labels 0..{len(ids) - 1} '
                     'in id order')
    used = {a['category_id'] for d in data.values() for a in d['annotations']
            if not a.get('iscrowd', 0)}
    trained = {a['category_id'] for a in data['train']['annotations'] if not a.get('iscrowd', 0)}
    unused = [names[i] for i in ids if i not in used]
    if unused:
        notes.append(f'{len(unused)} categories have no instance and are left out of the '
                     f'classes: {", ".join(unused[:10])}{" ..." if len(unused) > 10 else ""}')
    untrained = [names[i] for i in ids if i in used and i not in trained]
    if untrained:
        notes.append(f'{len(untrained)} classes appear only in the validation split and '
                     f'cannot be learnt: {", ".join(untrained[:10])}')
    classes = tuple(names[i] for i in ids if i in used)
    if not classes:
        raise DataError(f'{ann_file} has no (non-crowd) annotation: nothing to train on')
    splits = {}
    for split, d in data.items():
        crowd = sum(1 for a in d['annotations'] if a.get('iscrowd', 0))
        annotated = {a['image_id'] for a in d['annotations'] if not a.get('iscrowd', 0)}
        empty = len(d['images']) - len(annotated & {i['id'] for i in d['images']})
        if crowd:
            notes.append(f'{split}: {crowd} crowd annotations, ignored in training and '
                         'treated as crowd regions by the COCO evaluation')
        if empty:
            notes.append(f'{split}: {empty} images without objects, '
                         + ('skipped in training (mmdet filter_empty_gt)' if split == 'train'
                            else 'scored (false positives count)'))
        path = out_dir / f'instances_{split}.json'
        keep = dict(d, categories=[c for c in d['categories'] if c['name'] in classes],
                    annotations=[a for a in d['annotations'] if names[a['category_id']]
                                 in classes])
        atomic_write_bytes(path, json.dumps(keep).encode())
        splits[split] = dict(ann_file=str(path),
                             img_dir=str(img_dir if split == 'train' else val_img_dir),
                             images=len(d['images']), annotations=len(keep['annotations']),
                             crowd=crowd, empty_images=empty)
    sizes = np.array([(i['height'], i['width']) for d in data.values() for i in d['images']
                      if 'height' in i and 'width' in i])
    return UserDataset('detection', classes, img_dir, splits, notes,
                       sizes if len(sizes) else None)


def _image_files(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in folder_images(folder)}


def _read_classes(path: Path) -> tuple[str, ...]:
    if not path.is_file():
        raise DataError(f'class list {path} does not exist; write one class name per line '
                        '(line i is label value i)')
    classes = tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
    if not classes:
        raise DataError(f'class list {path} is empty')
    if len(set(classes)) != len(classes):
        dup = sorted({c for c in classes if classes.count(c) > 1})
        raise DataError(f'class list {path} names {dup} twice')
    return classes


ADE_SPLITS = {'train': 'training', 'val': 'validation'}


def read_segmentation_dataset(root: str | Path, out_dir: str | Path, val_fraction: float = 0.2,
                              classes_file: str | Path | None = None,
                              ignore_index: int = 255) -> UserDataset:
    """Read and check a semantic segmentation dataset in one of two layouts:

    * ``root/images``, ``root/labels`` and ``root/classes.txt`` (folders flat, or with
      ``train/`` and ``val/`` inside): label value ``i`` is line ``i`` of the class list,
      ``ignore_index`` is ignored;
    * ADE20K's ``root/images/{training,validation}`` and
      ``root/annotations/{training,validation}``: value 0 is ignored and value ``i`` is
      line ``i`` of ``classes_file`` (``reduce_zero_label``).

    Every image needs a label PNG of the same stem and size whose values lie in the class
    list. The file stems of each split are written to ``out_dir/<split>.txt`` (mmseg's
    ``ann_file``); ``splits[...]['reduce_zero_label']`` says which layout it was."""
    import cv2
    root = Path(root)
    img_root = root / 'images'
    ade = (root / 'annotations').is_dir() and (img_root / 'training').is_dir()
    classes = _read_classes(Path(classes_file) if classes_file else root / 'classes.txt')
    label_root = root / ('annotations' if ade else 'labels')
    for folder in (img_root, label_root):
        if not folder.is_dir():
            raise DataError(f'folder {folder} does not exist; a segmentation dataset is '
                            'images/, labels/ (PNG, value = line of classes.txt, 255 = '
                            'ignored) and classes.txt, or the ADE20K layout')
    if ade:
        folders = {split: (img_root / sub, label_root / sub) for split, sub in ADE_SPLITS.items()}
    elif (img_root / 'train').is_dir() and (img_root / 'val').is_dir():
        folders = {split: (img_root / split, label_root / split) for split in ('train', 'val')}
    else:
        folders = {'all': (img_root, label_root)}
    pairs = {}
    for split, (img_dir, lab_dir) in folders.items():
        images = _image_files(img_dir) if img_dir.is_dir() else {}
        labels = ({p.stem: p for p in sorted(lab_dir.iterdir()) if p.suffix.lower() == '.png'}
                  if lab_dir.is_dir() else {})
        lonely = sorted(set(images) - set(labels))
        if lonely:
            raise DataError(f'{len(lonely)} images in {img_dir} have no label map of the same '
                            f'name in {lab_dir} (e.g. {images[lonely[0]].name}: expected '
                            f'{lonely[0]}.png); add the label maps or remove the images')
        orphans = sorted(set(labels) - set(images))
        if orphans:
            raise DataError(f'{len(orphans)} label maps in {lab_dir} have no image of the '
                            f'same name in {img_dir} (e.g. {labels[orphans[0]].name}); '
                            'remove them or add the images')
        pairs[split] = [(images[s], labels[s]) for s in sorted(images)]
    notes = []
    if 'all' in pairs:
        every = _val_every(val_fraction)
        everything = pairs.pop('all')
        pairs = {'train': [p for k, p in enumerate(everything) if k % every != every - 1],
                 'val': [p for k, p in enumerate(everything) if k % every == every - 1]}
        notes.append(f'{len(everything)} images split into {len(pairs["train"])} training and '
                     f'{len(pairs["val"])} validation images (every {every}th by file name)')
    if not pairs['train']:
        raise DataError(f'no training images in {folders.get("train", (img_root,))[0]}')
    if len(pairs['val']) < MIN_VAL_IMAGES:
        raise DataError(f'the validation split has {len(pairs["val"])} images, fewer than '
                        f'{MIN_VAL_IMAGES}: too few to evaluate; give more images or a larger '
                        '--val-fraction')
    # the label values that are classes, and the one that is ignored
    first, ignored = (1, 0) if ade else (0, ignore_index)
    pixels = np.zeros(len(classes), np.int64)
    sizes = []
    for split, items in pairs.items():
        for image, label in items:
            lab = cv2.imread(str(label), cv2.IMREAD_UNCHANGED)
            if lab is None or lab.ndim != 2:
                raise DataError(f'label map {label} is not a single-channel PNG; write class '
                                'indices as an 8-bit (or 16-bit) grey image')
            img = cv2.imread(str(image), cv2.IMREAD_COLOR)
            if img is None:
                raise DataError(f'image {image} cannot be decoded; remove or replace it')
            if img.shape[:2] != lab.shape:
                raise DataError(f'label map {label} is {lab.shape[1]}x{lab.shape[0]} but its '
                                f'image {image.name} is {img.shape[1]}x{img.shape[0]}; they '
                                'must have the same size')
            values = np.unique(lab)
            bad = [int(v) for v in values
                   if v != ignored and not first <= v < first + len(classes)]
            if bad:
                raise DataError(
                    f'label map {label} has values {bad[:5]} outside the {len(classes)} '
                    f'classes of the class list ({first}..{first + len(classes) - 1}, '
                    f'{ignored} = ignored); remap them or add the classes')
            sizes.append(img.shape[:2])
            if split == 'train':
                valid = lab[lab != ignored].astype(np.int64) - first
                pixels += np.bincount(valid.ravel(), minlength=len(classes))[:len(classes)]
    absent = [c for c, n in zip(classes, pixels) if n == 0]
    if absent:
        notes.append(f'{len(absent)} classes have no pixel in the training split and cannot '
                     f'be learnt: {", ".join(absent[:10])}')
    splits = {}
    for split, items in pairs.items():
        listing = Path(out_dir) / f'{split}.txt'
        atomic_write_bytes(listing, ''.join(f'{i.stem}\n' for i, _ in items).encode())
        splits[split] = dict(ann_file=str(listing), img_dir=str(items[0][0].parent),
                             label_dir=str(items[0][1].parent), img_suffix=items[0][0].suffix,
                             reduce_zero_label=ade, images=len(items))
    return UserDataset('segmentation', classes, root, splits, notes, np.array(sizes))


def read_classification_dataset(root: str | Path,
                                classes_file: str | Path | None = None) -> UserDataset:
    """Read and check ``root/train`` and ``root/val``: one folder per class (classes in
    sorted folder order, as mmpretrain's ``CustomDataset`` reads them), or
    ``root/meta/{train,val}.txt`` lines ``<path> <label>`` with the classes of
    ``classes_file`` (default ``root/classes.txt``)."""
    from PIL import Image
    root = Path(root)
    for split in ('train', 'val'):
        if not (root / split).is_dir():
            raise DataError(f'folder {root / split} does not exist; a classification dataset '
                            'is train/ and val/ with one folder per class (ImageNet layout)')
    lists = all((root / 'meta' / f'{s}.txt').is_file() for s in ('train', 'val'))
    if lists:
        classes = _read_classes(Path(classes_file) if classes_file else root / 'classes.txt')
    else:
        classes = tuple(sorted(d.name for d in (root / 'train').iterdir() if d.is_dir()))
        if not classes:
            raise DataError(f'{root / "train"} has no class folders')
        extra = sorted(d.name for d in (root / 'val').iterdir()
                       if d.is_dir() and d.name not in classes)
        if extra:
            raise DataError(f'{root / "val"} has class folders {extra[:5]} that '
                            f'{root / "train"} lacks; give both splits the same classes')
    items: dict[str, list] = {}
    for split in ('train', 'val'):
        if lists:
            listing = root / 'meta' / f'{split}.txt'
            entries = []
            for number, line in enumerate(listing.read_text().splitlines(), 1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) < 2 or not parts[-1].isdigit() or int(parts[-1]) >= len(classes):
                    raise DataError(f'line {number} of {listing} is not "<path> <label>" with '
                                    f'a label below {len(classes)}: {line!r}')
                entries.append((root / split / ' '.join(parts[:-1]), int(parts[-1])))
        else:
            entries = [(f, classes.index(d.name))
                       for d in sorted((root / split).iterdir()) if d.is_dir()
                       for f in sorted(d.iterdir()) if f.suffix.lower() in IMAGE_EXTS]
        items[split] = entries
    if len(items['val']) < MIN_VAL_IMAGES:
        raise DataError(f'the validation split has {len(items["val"])} images, fewer than '
                        f'{MIN_VAL_IMAGES}: too few to evaluate; add images to {root / "val"}')
    sizes = []
    for split, entries in items.items():
        for path, _ in entries:
            try:
                with Image.open(path) as img:
                    img.verify()
                    sizes.append((img.height, img.width))
            except Exception as e:  # PIL raises many types for missing or broken files
                raise DataError(f'image {path} cannot be read ({e}); remove it from the '
                                'dataset or replace the file') from None
    counts = np.bincount([label for _, label in items['train']], minlength=len(classes))
    notes = []
    absent = [c for c, n in zip(classes, counts) if n == 0]
    if absent:
        notes.append(f'{len(absent)} classes have no training image and cannot be learnt: '
                     f'{", ".join(absent[:10])}')
    splits = {split: dict(images=len(entries), ann_file=(
        str(root / 'meta' / f'{split}.txt') if lists else None)) for split, entries in items.items()}
    return UserDataset('classification', classes, root, splits, notes, np.array(sizes))
