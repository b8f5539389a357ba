"""A user's dataset, read and checked before anything trains (``tools/compare.py``).

Three layouts are read:

* **detection / instance segmentation**: a COCO instances JSON and its image folder, or
  separate train and val JSONs (:mod:`.coco` checks every entry);
* **semantic segmentation**: ``images/`` and ``labels/`` folders with a ``classes.txt``
  (label PNG value ``i`` is line ``i`` of the class list, 255 is ignored), each folder
  either flat (split here) or with ``train/`` and ``val/`` inside; or the ADE20K layout
  with a class list;
* **classification**: mmpretrain's ImageNet layout, ``train/`` and ``val/`` with one
  folder per class (or ``meta/{train,val}.txt`` lists and a ``classes.txt``).

Every image is decoded as the training will decode it (:mod:`.images`). What real data
brings is repaired or dropped and said (:attr:`UserDataset.notes`), or refused with one
line naming the file, the item and the fix (:class:`~.rules.DataError`), by the rules of
:mod:`.rules` (docs/compare.md lists them).

A single JSON (or flat folders) is split deterministically: every
``round(1 / val_fraction)``-th image in file-name order goes to validation.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..utils.atomic import atomic_write_bytes
from .coco import clean_coco, read_coco_json
from .images import folder_images, is_image_file, probe_images
from .rules import RULES, DataError, Findings

__all__ = ['DataError', 'UserDataset', 'MIN_VAL_IMAGES', 'TASKS', 'DataSpec', 'read_dataset',
           'read_coco_dataset', 'read_segmentation_dataset', 'read_classification_dataset',
           'image_size_stats']

MIN_VAL_IMAGES = 4  # fewer validation images make a metric of noise


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
    findings: dict = field(default_factory=dict)  # rule code -> how many it found

    def summary(self) -> dict:
        return dict(task=self.task, classes=list(self.classes), root=str(self.root),
                    splits=self.splits, notes=self.notes, findings=self.findings,
                    image_size=image_size_stats(self.sizes))


def _counts(*found: Findings) -> dict:
    out: dict = {}
    for f in found:
        for code, refs in f.hits.items():
            out[code] = out.get(code, 0) + len(refs)
    return out


def image_size_stats(sizes: np.ndarray | None) -> dict:
    """Min, median and max of the heights and widths (pixels)."""
    if sizes is None or not len(sizes):
        return {}
    return {stat: [int(v) for v in fn(sizes, axis=0)]
            for stat, fn in (('min', np.min), ('median', np.median), ('max', np.max))}


def _val_every(val_fraction: float) -> int:
    if not 0 < val_fraction < 1:
        raise DataError(f'--val-fraction must be between 0 and 1, got {val_fraction}')
    return max(2, round(1 / val_fraction))


def _subset(data: dict, image_ids: set) -> dict:
    return dict(data, images=[i for i in data['images'] if i['id'] in image_ids],
                annotations=[a for a in data['annotations'] if a['image_id'] in image_ids])


def read_coco_dataset(ann_file: str | Path, img_dir: str | Path, out_dir: str | Path,
                      val_ann_file: str | Path | None = None,
                      val_img_dir: str | Path | None = None,
                      val_fraction: float = 0.2, masks: bool | None = None) -> UserDataset:
    """Read and check a COCO instances dataset (every entry, :func:`.coco.clean_coco`);
    write the repaired train/val JSONs the configs read into ``out_dir`` (a split of
    ``ann_file``, or both files, with the categories that have instances).
    ``val_img_dir``: the validation images' folder when it is not ``img_dir``;
    ``masks``: whether the models train masks (None: when the data has masks)."""
    ann_file, img_dir, out_dir = Path(ann_file), Path(img_dir), Path(out_dir)
    val_img_dir = Path(val_img_dir) if val_img_dir is not None else img_dir
    for folder, flag in ((img_dir, '--images'), (val_img_dir, '--val-images')):
        if not folder.is_dir():
            raise DataError(f'image folder {folder} does not exist; give {flag}')
    found = {'train': Findings(ann_file.name)}
    train, masks = clean_coco(read_coco_json(ann_file), img_dir, found['train'], masks)
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
        found['val'] = Findings(val_ann_file.name)
        val, _ = clean_coco(read_coco_json(val_ann_file, 'validation annotation file'),
                            val_img_dir, found['val'], masks)
        data = {'train': train, 'val': val}
        sources = {'train': ann_file, 'val': val_ann_file}
    names = {c['id']: c['name'] for c in train['categories']}
    for split, d in data.items():
        if {c['id']: c['name'] for c in d['categories']} != names:
            raise RULES['categories-differ'].error(f'{sources[split]} and {ann_file} list '
                                                   'other categories')
    if len(data['val']['images']) < MIN_VAL_IMAGES:
        raise RULES['val-too-small'].error(
            f'the validation split has {len(data["val"]["images"])} images, fewer than '
            f'{MIN_VAL_IMAGES}: too few to evaluate')
    info = Findings(ann_file.name)
    if not names:
        raise RULES['no-annotations'].error(f'{ann_file} lists no categories')
    ids = sorted(names)
    if ids != list(range(ids[0], ids[0] + len(ids))):
        info.add('category-ids-sparse', None, f'category ids that are not contiguous '
                 f'({ids[0]}..{ids[-1]}, {len(ids)} categories): mmdet maps them to labels '
                 f'0..{len(ids) - 1} in id order')
    used = {a['category_id'] for d in data.values() for a in d['annotations']
            if not a['iscrowd']}
    trained = {a['category_id'] for a in data['train']['annotations'] if not a['iscrowd']}
    for i in ids:
        if i not in used:
            info.add('category-unused', names[i])
        elif i not in trained:
            info.add('category-val-only', names[i])
    classes = tuple(names[i] for i in ids if i in used)
    if not classes:
        raise RULES['no-annotations'].error(f'{ann_file} has no (non-crowd) annotation left')
    splits = {}
    for split, d in data.items():
        crowd = sum(1 for a in d['annotations'] if a['iscrowd'])
        annotated = {a['image_id'] for a in d['annotations'] if not a['iscrowd']}
        empty = [i['file_name'] for i in d['images'] if i['id'] not in annotated]
        path = out_dir / f'instances_{split}.json'
        keep = dict(d, categories=[c for c in d['categories'] if c['name'] in classes],
                    annotations=[a for a in d['annotations'] if names[a['category_id']]
                                 in classes])
        atomic_write_bytes(path, json.dumps(keep).encode())
        splits[split] = dict(ann_file=str(path),
                             img_dir=str(img_dir if split == 'train' else val_img_dir),
                             images=len(d['images']), annotations=len(keep['annotations']),
                             crowd=crowd, empty_images=len(empty), masks=masks)
        found[split + ' split'] = split_info = Findings(split)
        for a in d['annotations']:
            if a['iscrowd']:
                split_info.add('crowd', a['id'])
        for name in empty:
            split_info.add('image-empty', name)
    found['categories'] = info
    for f in found.values():
        notes += f.notes()
    sizes = np.array([(i['height'], i['width']) for d in data.values() for i in d['images']])
    return UserDataset('detection', classes, img_dir, splits, notes,
                       sizes if len(sizes) else None, _counts(*found.values()))


def _image_files(folder: Path, found: Findings) -> dict[str, Path]:
    """stem -> image file of ``folder``; two images of one stem are refused."""
    files: dict[str, Path] = {}
    for p in folder_images(folder):
        if p.stem in files:
            found.refuse('image-stem-duplicate', f'{folder} holds {files[p.stem].name} and '
                         f'{p.name}')
        files[p.stem] = p
    suffixes = sorted({p.suffix for p in files.values()})
    if len(suffixes) > 1:
        found.refuse('image-suffix-mixed', f'{folder} holds images of the extensions '
                     f'{", ".join(suffixes)}')
    return files


def _read_classes(path: Path) -> tuple[str, ...]:
    if not path.is_file():
        raise RULES['classes-file-missing'].error(f'class list {path} does not exist')
    classes = tuple(line.strip() for line in path.read_text(encoding='utf-8-sig').splitlines()
                    if line.strip())
    if not classes:
        raise RULES['classes-file-invalid'].error(f'class list {path} is empty')
    if len(set(classes)) != len(classes):
        dup = sorted({c for c in classes if classes.count(c) > 1})
        raise RULES['classes-file-invalid'].error(f'class list {path} names {dup} twice')
    return classes


ADE_SPLITS = {'train': 'training', 'val': 'validation'}


def _read_label(path: Path):
    """The label map as mmseg's ``LoadAnnotations`` reads it (Pillow, unchanged: palette
    PNGs give their indices), or None when it does not decode."""
    from PIL import Image
    try:
        with Image.open(path) as img:
            img.load()
            return np.asarray(img)
    except Exception:  # Pillow raises many types for broken files
        return None


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

    Every image needs a label PNG of the same stem and size (the image's size as mmcv
    decodes it, EXIF orientation applied) whose values lie in the class list. The file
    stems of each split are written to ``out_dir/<split>.txt`` (mmseg's ``ann_file``);
    ``splits[...]['reduce_zero_label']`` says which layout it was."""
    root = Path(root)
    img_root = root / 'images'
    ade = (root / 'annotations').is_dir() and (img_root / 'training').is_dir()
    classes = _read_classes(Path(classes_file) if classes_file else root / 'classes.txt')
    if len(classes) > 255 - (0 if ade else 1):
        raise RULES['classes-file-invalid'].error(
            f'class list {classes_file or root / "classes.txt"} names {len(classes)} classes, '
            "more than mmseg's 8-bit label maps hold besides the ignored value")
    label_root = root / ('annotations' if ade else 'labels')
    found = Findings(root.name)
    for folder in (img_root, label_root):
        if not folder.is_dir():
            found.refuse('seg-layout', f'folder {folder} does not exist')
    if ade:
        folders = {split: (img_root / sub, label_root / sub) for split, sub in ADE_SPLITS.items()}
    elif (img_root / 'train').is_dir() and (img_root / 'val').is_dir():
        folders = {split: (img_root / split, label_root / split) for split in ('train', 'val')}
    else:
        folders = {'all': (img_root, label_root)}
    pairs = {}
    for split, (img_dir, lab_dir) in folders.items():
        images = _image_files(img_dir, found) if img_dir.is_dir() else {}
        labels = ({p.stem: p for p in sorted(lab_dir.iterdir()) if p.suffix.lower() == '.png'}
                  if lab_dir.is_dir() else {})
        label_suffixes = sorted({p.suffix for p in labels.values()})
        if len(label_suffixes) > 1:  # mmseg reads one seg_map_suffix, case and all
            found.refuse('image-suffix-mixed', f'{lab_dir} holds label maps of the extensions '
                         f'{", ".join(label_suffixes)}')
        lonely = sorted(set(images) - set(labels))
        if lonely:
            found.refuse('label-missing', f'{len(lonely)} images in {img_dir} have no label '
                         f'map of the same name in {lab_dir} (e.g. {images[lonely[0]].name}: '
                         f'expected {lonely[0]}.png)')
        orphans = sorted(set(labels) - set(images))
        if orphans:
            found.refuse('label-orphan', f'{len(orphans)} label maps in {lab_dir} have no '
                         f'image of the same name in {img_dir} (e.g. {labels[orphans[0]].name})')
        pairs[split] = [(images[s], labels[s]) for s in sorted(images)]
    total = sum(len(v) for v in pairs.values())
    # decode everything first: broken pairs are dropped before the split
    first, ignored = (1, 0) if ade else (0, ignore_index)
    pixels, sizes = {}, {}  # label map -> pixels per class; image -> (h, w)
    for split, items in pairs.items():
        probes = probe_images(i for i, _ in items)
        good = []
        for (image, label), probe in zip(items, probes):
            if probe.error:
                found.add('image-unreadable', image.name)
                continue
            lab = _read_label(label)
            if lab is None or lab.size == 0:
                found.add('label-unreadable', label.name)
                continue
            if lab.ndim != 2:
                found.refuse('label-not-single-channel', f'label map {label} has '
                             f'{lab.shape[-1]} channels')
            if (probe.height, probe.width) != lab.shape:
                turned = ' (turned by its EXIF orientation)' if probe.rotated else ''
                found.refuse('label-size-mismatch',
                             f'label map {label} is {lab.shape[1]}x{lab.shape[0]} but its image '
                             f'{image.name} is {probe.width}x{probe.height}{turned}')
            bad = [int(v) for v in np.unique(lab)
                   if v != ignored and not first <= v < first + len(classes)]
            if bad:
                found.refuse('label-values', f'label map {label} has values {bad[:5]} outside '
                             f'the {len(classes)} classes of the class list '
                             f'({first}..{first + len(classes) - 1}, {ignored} = ignored)')
            good.append((image, label))
            sizes[image] = (probe.height, probe.width)
            valid = lab[lab != ignored].astype(np.int64) - first  # the class of each pixel
            pixels[label] = np.bincount(valid.ravel(), minlength=len(classes))[:len(classes)]
        pairs[split] = good
    found.check_drops({'images': total})
    notes = []
    if 'all' in pairs:
        every = _val_every(val_fraction)
        everything = pairs.pop('all')
        pairs = {'train': [p for k, p in enumerate(everything) if k % every != every - 1],
                 'val': [p for k, p in enumerate(everything) if k % every == every - 1]}
        notes.append(f'{len(everything)} images split into {len(pairs["train"])} training and '
                     f'{len(pairs["val"])} validation images (every {every}th by file name)')
    if not pairs['train']:
        raise RULES['no-annotations'].error(
            f'no training images in {folders.get("train", (img_root,))[0]}')
    if len(pairs['val']) < MIN_VAL_IMAGES:
        raise RULES['val-too-small'].error(f'the validation split has {len(pairs["val"])} '
                                           f'images, fewer than {MIN_VAL_IMAGES}: too few to '
                                           'evaluate')
    trained = sum((pixels[label] for _, label in pairs['train']),
                  np.zeros(len(classes), np.int64))
    for c, n in zip(classes, trained):
        if n == 0:
            found.add('class-no-pixel', c)
    notes += found.notes()
    splits = {}
    for split, items in pairs.items():
        listing = Path(out_dir) / f'{split}.txt'
        atomic_write_bytes(listing, ''.join(f'{i.stem}\n' for i, _ in items).encode())
        splits[split] = dict(ann_file=str(listing), img_dir=str(items[0][0].parent),
                             label_dir=str(items[0][1].parent), img_suffix=items[0][0].suffix,
                             seg_map_suffix=items[0][1].suffix,
                             reduce_zero_label=ade, images=len(items))
    return UserDataset('segmentation', classes, root, splits, notes,
                       np.array([sizes[i] for items in pairs.values() for i, _ in items]),
                       _counts(found))


def read_classification_dataset(root: str | Path, classes_file: str | Path | None = None,
                                out_dir: str | Path | None = None) -> UserDataset:
    """Read and check ``root/train`` and ``root/val``: one folder per class (classes in
    sorted folder order, as mmpretrain's ``CustomDataset`` reads them), or
    ``root/meta/{train,val}.txt`` lines ``<path> <label>`` with the classes of
    ``classes_file`` (default ``root/classes.txt``). Images that do not decode are
    dropped (said), as many as :data:`.rules.DROP_LIMIT` allows: the class-folder layout
    then gets lists of the kept images, ``out_dir/<split>.txt`` (mmpretrain's
    ``ann_file``). A given list is the user's: an image of it that does not decode is
    refused (remove its line)."""
    root = Path(root)
    found = Findings(root.name)
    for split in ('train', 'val'):
        if not (root / split).is_dir():
            found.refuse('cls-layout', f'folder {root / split} does not exist')
    lists = all((root / 'meta' / f'{s}.txt').is_file() for s in ('train', 'val'))
    if lists:
        classes = _read_classes(Path(classes_file) if classes_file else root / 'classes.txt')
    else:
        classes = tuple(sorted(d.name for d in (root / 'train').iterdir() if d.is_dir()))
        if not classes:
            found.refuse('cls-layout', f'{root / "train"} has no class folders')
        extra = sorted(d.name for d in (root / 'val').iterdir()
                       if d.is_dir() and d.name not in classes)
        if extra:
            found.refuse('cls-val-extra-class', f'{root / "val"} has class folders {extra[:5]} '
                         f'that {root / "train"} lacks')
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
                    found.refuse('cls-list-line', f'line {number} of {listing} is not "<path> '
                                 f'<label>" with a label below {len(classes)}: {line!r}')
                entries.append((root / split / ' '.join(parts[:-1]), int(parts[-1])))
        else:
            entries = [(f, classes.index(d.name))
                       for d in sorted((root / split).iterdir()) if d.is_dir()
                       for f in sorted(d.iterdir()) if is_image_file(f)]
        items[split] = entries
    total = sum(len(v) for v in items.values())
    sizes = []
    for split, entries in items.items():
        good = []
        for (path, label), probe in zip(entries, probe_images(p for p, _ in entries)):
            if probe.error:
                if lists:
                    found.refuse('image-unreadable', f'image {path} of meta/{split}.txt is '
                                 f'{probe.error}', f'remove its line from meta/{split}.txt or '
                                 'replace the file')
                found.add('image-unreadable', str(path.relative_to(root)))
                continue
            good.append((path, label))
            sizes.append((probe.height, probe.width))
        items[split] = good
    found.check_drops({'images': total})
    if len(items['val']) < MIN_VAL_IMAGES:
        found.refuse('val-too-small', f'the validation split has {len(items["val"])} images, '
                     f'fewer than {MIN_VAL_IMAGES}: too few to evaluate',
                     f'add images to {root / "val"}')
    counts = np.bincount([label for _, label in items['train']], minlength=len(classes))
    for c, n in zip(classes, counts):
        if n == 0:
            found.add('class-no-image', c)
    written = {}
    if not lists and found.count('image-unreadable') and out_dir is None:
        found.refuse('image-unreadable', f'{root}: {found.hits["image-unreadable"][0]} '
                     'cannot be decoded', 'remove or replace it')
    if not lists and out_dir is not None:
        # the checked images, listed: mmpretrain would scan the folders with its own
        # extensions and take a dropped file back
        for split, entries in items.items():
            written[split] = Path(out_dir).resolve() / f'{split}.txt'
            atomic_write_bytes(written[split], ''.join(
                f'{p.relative_to(root / split).as_posix()} {label}\n'
                for p, label in entries).encode())
    splits = {split: dict(images=len(entries), ann_file=(
        str(root / 'meta' / f'{split}.txt') if lists else
        (str(written[split]) if split in written else None)))
        for split, entries in items.items()}
    return UserDataset('classification', classes, root, splits, found.notes(), np.array(sizes),
                       _counts(found))


TASKS = ('detection', 'segmentation', 'classification')


@dataclass
class DataSpec:
    """A user's dataset: ``task`` and its files (see :func:`read_dataset`)."""
    task: str
    ann_file: str | None = None      # detection: COCO JSON (train, or all when split here)
    images: str | None = None        # detection: its image folder
    val_ann_file: str | None = None  # detection: a separate validation JSON
    val_images: str | None = None    # ... and its image folder (default: images)
    root: str | None = None          # segmentation / classification: the dataset folder
    classes_file: str | None = None  # segmentation (ADE layout) / classification lists
    val_fraction: float = 0.2


def read_dataset(spec: DataSpec, out_dir: str | Path, masks: bool | None = None
                 ) -> UserDataset:
    """Read and check ``spec``, writing its split files into ``out_dir``; ``masks``
    (detection): whether the models train masks (None: when the data has masks)."""
    if spec.task == 'detection':
        if not spec.ann_file or not spec.images:
            raise DataError('detection needs --ann-file (COCO instances JSON) and --images')
        return read_coco_dataset(spec.ann_file, spec.images, out_dir, spec.val_ann_file,
                                 spec.val_images, spec.val_fraction, masks)
    if not spec.root:
        raise DataError(f'{spec.task} needs --data-root (the dataset folder)')
    if spec.task == 'segmentation':
        return read_segmentation_dataset(spec.root, out_dir, spec.val_fraction,
                                         spec.classes_file)
    if spec.task == 'classification':
        return read_classification_dataset(spec.root, spec.classes_file, out_dir)
    raise DataError(f'unknown task {spec.task!r}; choose from {", ".join(TASKS)}')
