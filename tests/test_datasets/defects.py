"""Broken variants of a real export, for the data check's fuzz test.

:func:`coco_export` makes a COCO export from the shared COCO128 (its first images,
their real polygons, crowd RLEs and boxes; the image files linked, not copied) and
:func:`seg_export` a label-map export from coco128_semseg. Each :class:`Defect` breaks an
export the way labelling tools and hand edits do and names the rule of
``trtvit_dense.datasets.rules`` that must catch it and what must happen (``repaired``,
``dropped``, ``refused`` or ``noted``). :func:`apply` applies one or several.
"""
from __future__ import annotations

import copy
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from PIL import Image


@dataclass
class Export:
    """An export on disk: the JSON (``data``) and its image folder, or a label-map
    dataset root (``data`` is None)."""
    root: Path
    data: dict | None = None
    _pool: dict | None = None  # the annotations by kind, as they were before any defect

    @property
    def images(self) -> Path:
        return self.root / 'images'

    @property
    def ann_file(self) -> Path:
        return self.root / 'instances.json'

    def write(self) -> None:
        if self.data is not None:
            self.ann_file.write_text(json.dumps(self.data, ensure_ascii=False))

    def own(self, path: Path) -> Path:
        """``path`` as a file of this export (a linked file is copied first)."""
        if path.is_symlink():
            target = path.resolve()
            path.unlink()
            path.write_bytes(target.read_bytes())
        return path

    def image_file(self, k: int) -> Path:
        return self.images / self.data['images'][k]['file_name']

    def annotation(self, k: int, crowd: bool = False, polygon: bool = True) -> dict:
        """The ``k``-th annotation (in file order) that is (not) crowd and has a polygon
        mask when ``polygon``, counted as the export was before any defect: each defect
        picks its own annotation, whatever the others changed."""
        if self._pool is None:
            self._pool = {(c, p): [a for a in self.data['annotations']
                                   if bool(a.get('iscrowd')) == c
                                   and (not p or isinstance(a.get('segmentation'), list))]
                          for c in (False, True) for p in (False, True)}
        found = self._pool[(crowd, polygon)]
        return found[k % len(found)]

    def image_of(self, ann: dict) -> dict:
        return next(i for i in self.data['images'] if i['id'] == ann['image_id'])


def coco_export(coco128: Path, out: Path, images: int = 48) -> Export:
    """The first ``images`` COCO128 images (by file name) with their annotations."""
    coco128 = coco128.resolve()
    data = json.loads((coco128 / 'annotations/instances_train2017.json').read_text())
    keep = sorted(data['images'], key=lambda i: i['file_name'])[:images]
    ids = {i['id'] for i in keep}
    (out / 'images').mkdir(parents=True)
    for image in keep:
        os.symlink(coco128 / 'train2017' / image['file_name'], out / 'images' / image['file_name'])
    export = Export(out, dict(images=keep, annotations=[a for a in data['annotations']
                                                        if a['image_id'] in ids],
                              categories=data['categories']))
    export.write()
    return export


def seg_export(semseg: Path, out: Path, images: int = 24) -> Export:
    """coco128_semseg in the user layout (conftest.coco_semseg_as_user_layout), its
    first ``images`` images."""
    from conftest import coco_semseg_as_user_layout
    coco_semseg_as_user_layout(semseg, out, images)
    return Export(out)


@dataclass(frozen=True)
class Defect:
    name: str
    layout: str                     # 'coco' or 'segmentation'
    rule: str                       # the rule that must catch it
    outcome: str                    # repaired / dropped / refused / noted / clean
    apply: Callable[[Export], None]


def _jpeg_with_exif_orientation(source: Path, orientation: int) -> bytes:
    with Image.open(source) as img:
        exif = Image.Exif()
        exif[0x0112] = orientation
        out = io.BytesIO()
        img.save(out, 'JPEG', exif=exif, quality=90)
    return out.getvalue()


def _set(ann_picker, **fields):
    def apply(e: Export):
        ann = ann_picker(e)
        for key, value in fields.items():
            if value is _DELETE:
                ann.pop(key, None)
            else:
                ann[key] = value(ann) if callable(value) else value
    return apply


_DELETE = object()


def _nth(k, crowd=False, polygon=True):
    return lambda e: e.annotation(k, crowd, polygon)


def _extra_polygon(values):
    return lambda a: a['segmentation'] + [values]


def _two_point_polygons(e: Export):
    """The issue's crash: a 2-point polygon first in an object's list (pycocotools'
    frPyObjects then reads the list as boxes and fails at the evaluation), on one object
    of each of the first 10 images by file name (validation images among them)."""
    first = sorted(e.data['images'], key=lambda i: i['file_name'])[:10]
    for image in first:
        ann = next((a for a in e.data['annotations'] if a['image_id'] == image['id']
                    and not a.get('iscrowd') and isinstance(a.get('segmentation'), list)), None)
        if ann is not None:
            ann['segmentation'] = [[10.0, 10.0, 30.0, 30.0]] + ann['segmentation']


def _truncate(e: Export):
    path = e.own(e.image_file(3))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _zero_bytes(e: Export):
    e.own(e.image_file(5)).write_bytes(b'')


def _not_an_image(e: Export):
    e.own(e.image_file(7)).write_bytes(b'<html>404 not found</html>')


def _exif_turned(e: Export):
    # a landscape photo whose EXIF says "turn 90 degrees": mmcv decodes it portrait,
    # the JSON keeps the unturned width/height (and the annotations in that frame)
    k = next(k for k, i in enumerate(e.data['images']) if i['width'] != i['height'])
    path = e.image_file(k)
    payload = _jpeg_with_exif_orientation(path.resolve(), 6)
    path.unlink()
    path.write_bytes(payload)


def _exif_same_size(e: Export, orientation: int):
    """An EXIF orientation that mirrors or turns by 180 degrees: the size stays."""
    path = e.image_file(19)
    payload = _jpeg_with_exif_orientation(path.resolve(), orientation)
    path.unlink()
    path.write_bytes(payload)


def _resized(e: Export):
    image = e.data['images'][9]
    image['width'], image['height'] = image['width'] * 2, image['height'] * 2


def _duplicate_image_id(e: Export):
    e.data['images'][11]['id'] = e.data['images'][10]['id']


def _duplicate_file(e: Export):
    e.data['images'].append(dict(e.data['images'][12], id=10**7))


def _ids_as_strings(e: Export):
    image = e.data['images'][13]
    for ann in e.data['annotations']:
        if ann['image_id'] == image['id']:
            ann['image_id'] = str(image['id'])
    image['id'] = str(image['id'])


def _subfolders(e: Export):
    """Labelling tools write sub-folders into file_name: half the images in batch_1/."""
    (e.images / 'batch_1').mkdir()
    for image in e.data['images'][::2]:
        (e.images / image['file_name']).rename(e.images / 'batch_1' / image['file_name'])
        image['file_name'] = 'batch_1/' + image['file_name']


def _backslashes(e: Export):
    (e.images / 'win').mkdir()
    for image in e.data['images'][1::4]:
        (e.images / image['file_name']).rename(e.images / 'win' / image['file_name'])
        image['file_name'] = 'win\\' + image['file_name']


def _grayscale_png(e: Export):
    """Grey PNG files where the JSON lists JPEGs' names changed to .png."""
    for image in e.data['images'][2::6]:
        src = e.images / image['file_name']
        grey = cv2.imread(str(src), cv2.IMREAD_GRAYSCALE)
        src.unlink()
        image['file_name'] = image['file_name'][:-4] + '.png'
        cv2.imwrite(str(e.images / image['file_name']), grey)


def _unicode_and_odd_ids(e: Export):
    """Unicode class names and category ids that are neither contiguous nor 1-based."""
    remap = {c['id']: 1000 + 7 * c['id'] for c in e.data['categories']}
    for c in e.data['categories']:
        c['id'] = remap[c['id']]
        c['name'] = f"{c['name']} — Ä·{c['id']}"
    for ann in e.data['annotations']:
        ann['category_id'] = remap[ann['category_id']]


def _many_broken(e: Export):
    for k in range(0, len(e.data['images']), 3):
        e.own(e.image_file(k)).write_bytes(b'')


def _box_only_objects(e: Export):
    for k in (26, 27):
        e.annotation(k).pop('segmentation')


def _rle_wrong_size(e: Export):
    ann = e.annotation(0, crowd=True, polygon=False)
    ann['segmentation']['size'] = [s + 1 for s in ann['segmentation']['size']]


def _rle_bad_counts(e: Export):
    ann = e.annotation(25, crowd=False)
    image = e.image_of(ann)
    ann['segmentation'] = dict(size=[image['height'], image['width']], counts=[5, 7, 9])
    ann['iscrowd'] = 0


def _compressed(e: Export, k: int):
    """The ``k``-th object's polygons as a compressed RLE string (as tools that export
    masks as RLE write them, crowd or not)."""
    from pycocotools import mask as mask_utils
    ann = e.annotation(k)
    image = e.image_of(ann)
    h, w = image['height'], image['width']
    rle = mask_utils.merge(mask_utils.frPyObjects(ann['segmentation'], h, w))
    ann['segmentation'] = dict(size=[h, w], counts=rle['counts'].decode())
    return ann


def _rle_compressed_wrong_size(e: Export):
    _compressed(e, 29)['segmentation']['size'][0] += 7


def _rle_compressed_truncated(e: Export):
    seg = _compressed(e, 30)['segmentation']
    seg['counts'] = seg['counts'][: len(seg['counts']) // 2]


def _seg(name):
    """A label-map export's defect (below)."""
    return getattr(_SegDefects, name)


class _SegDefects:
    @staticmethod
    def label_missing(e):
        sorted((e.root / 'labels').iterdir())[4].unlink()

    @staticmethod
    def label_orphan(e):
        sorted((e.root / 'images').iterdir())[5].unlink()

    @staticmethod
    def label_values(e):
        path = sorted((e.root / 'labels').iterdir())[6]
        lab = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        lab[:4, :4] = 200
        cv2.imwrite(str(path), lab)

    @staticmethod
    def label_rgb(e):
        path = sorted((e.root / 'labels').iterdir())[7]
        lab = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        cv2.imwrite(str(path), np.stack([lab, lab // 2, lab // 3], -1))

    @staticmethod
    def label_palette(e):
        """Palette PNGs (indices + a colour table), as many tools write them: mmseg reads
        the indices (Pillow), so this is not a defect."""
        for path in sorted((e.root / 'labels').iterdir())[::3]:
            with Image.open(path) as img:
                pal = img.convert('P')
                pal.putpalette([v % 256 for i in range(256) for v in (i * 7, i * 13, i * 29)])
                pal.save(path)

    @staticmethod
    def label_size(e):
        path = sorted((e.root / 'labels').iterdir())[8]
        lab = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        cv2.imwrite(str(path), lab[:-3])

    @staticmethod
    def image_truncated(e):
        path = Export(e.root).own(sorted((e.root / 'images').iterdir())[9])
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])

    @staticmethod
    def label_truncated(e):
        path = sorted((e.root / 'labels').iterdir())[10]
        path.write_bytes(path.read_bytes()[:60])

    @staticmethod
    def image_stem_duplicate(e):
        path = sorted((e.root / 'images').iterdir())[11]
        cv2.imwrite(str(path.with_suffix('.png')), cv2.imread(str(path)))

    @staticmethod
    def image_suffix_mixed(e):
        path = sorted((e.root / 'images').iterdir())[12]
        cv2.imwrite(str(path.with_suffix('.png')), cv2.imread(str(path)))
        path.unlink()

    @staticmethod
    def image_exif_turned(e):
        path = next(p for p in sorted((e.root / 'images').iterdir())
                    if (lambda s: s[0] != s[1])(cv2.imread(str(p)).shape))
        payload = _jpeg_with_exif_orientation(path.resolve(), 6)
        path.unlink()
        path.write_bytes(payload)

    @staticmethod
    def classes_missing(e):
        (e.root / 'classes.txt').unlink()

    @staticmethod
    def classes_duplicate(e):
        names = (e.root / 'classes.txt').read_text().splitlines()
        names[3] = names[2]
        (e.root / 'classes.txt').write_text('\n'.join(names) + '\n')

    @staticmethod
    def classes_bom_crlf(e):
        """A class list saved by Notepad: a byte-order mark and CRLF line ends."""
        names = (e.root / 'classes.txt').read_text().splitlines()
        (e.root / 'classes.txt').write_bytes(('\ufeff' + '\r\n'.join(names) + '\r\n')
                                             .encode('utf-8'))


D = Defect
DEFECTS = [
    # -- COCO: masks ---------------------------------------------------------------------
    D('polygon-2-points', 'coco', 'polygon-too-few-points', 'repaired', _two_point_polygons),
    D('polygon-2-points-only', 'coco', 'mask-unusable', 'dropped',
      _set(_nth(1), segmentation=[[10.0, 10.0, 30.0, 30.0]])),
    D('polygon-odd-length', 'coco', 'polygon-odd-length', 'repaired',
      _set(_nth(2), segmentation=_extra_polygon([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]))),
    D('polygon-flat', 'coco', 'polygon-flat', 'repaired',
      _set(_nth(3), segmentation=lambda a: a['segmentation'][0])),
    D('polygon-strings', 'coco', 'number-as-string', 'repaired',
      _set(_nth(4), segmentation=lambda a: [[str(v) for v in p] for p in a['segmentation']])),
    D('polygon-garbage', 'coco', 'polygon-not-numbers', 'repaired',
      _set(_nth(5), segmentation=_extra_polygon(['x', 'y', 'z', 'w', 'u', 'v']))),
    D('segmentation-number', 'coco', 'segmentation-invalid', 'repaired',
      _set(_nth(6), segmentation=5)),
    D('rle-wrong-size', 'coco', 'rle-size-mismatch', 'repaired', _rle_wrong_size),
    D('rle-bad-counts', 'coco', 'rle-invalid', 'repaired', _rle_bad_counts),
    D('rle-compressed', 'coco', '', 'clean', lambda e: _compressed(e, 28)),
    D('rle-compressed-wrong-size', 'coco', 'rle-size-mismatch', 'repaired',
      _rle_compressed_wrong_size),
    D('rle-compressed-truncated', 'coco', 'rle-invalid', 'repaired', _rle_compressed_truncated),
    D('box-only-objects', 'coco', 'mask-missing', 'dropped', _box_only_objects),
    # -- COCO: boxes, areas, flags -----------------------------------------------------
    D('bbox-strings', 'coco', 'number-as-string', 'repaired',
      _set(_nth(7), bbox=lambda a: [str(v) for v in a['bbox']])),
    D('bbox-missing', 'coco', 'bbox-missing', 'repaired', _set(_nth(8), bbox=_DELETE)),
    D('bbox-and-mask-missing', 'coco', 'bbox-missing-no-mask', 'dropped',
      _set(_nth(9), bbox=_DELETE, segmentation=_DELETE)),
    D('bbox-three-numbers', 'coco', 'bbox-malformed', 'dropped',
      _set(_nth(10), bbox=lambda a: a['bbox'][:3])),
    D('bbox-nan', 'coco', 'bbox-malformed', 'dropped',
      _set(_nth(11), bbox=lambda a: [float('nan')] + a['bbox'][1:])),
    D('bbox-zero-width', 'coco', 'bbox-degenerate', 'dropped',
      _set(_nth(12), bbox=lambda a: a['bbox'][:2] + [0, a['bbox'][3]])),
    D('bbox-negative-height', 'coco', 'bbox-degenerate', 'dropped',
      _set(_nth(13), bbox=lambda a: a['bbox'][:3] + [-5])),
    D('bbox-partly-outside', 'coco', 'bbox-clipped', 'repaired',
      _set(_nth(14), bbox=lambda a: [-15.0, a['bbox'][1], a['bbox'][2] + 30, a['bbox'][3]])),
    D('bbox-outside', 'coco', 'bbox-outside', 'dropped',
      _set(_nth(15), bbox=[5000.0, 5000.0, 10.0, 10.0])),
    D('area-missing', 'coco', 'area-missing', 'repaired', _set(_nth(16), area=_DELETE)),
    D('area-zero', 'coco', 'area-not-positive', 'repaired', _set(_nth(17), area=0)),
    D('area-of-a-degenerate-mask', 'coco', 'area-missing', 'repaired',
      _set(_nth(31), area=_DELETE, segmentation=lambda a: a['segmentation'] + [[5.0] * 6])),
    D('ignore-flag', 'coco', 'ignore-flag', 'repaired', _set(_nth(32), ignore=1)),
    D('annotation-id-zero', 'coco', 'annotation-id-missing', 'repaired', _set(_nth(33), id=0)),
    D('image-exif-mirrored', 'coco', 'image-exif-orientation', 'noted',
      lambda e: _exif_same_size(e, 2)),
    D('file-name-dot-slash-twice', 'coco', 'image-duplicate-file', 'refused',
      lambda e: e.data['images'].append(dict(e.data['images'][18], id=10**7 + 1,
                                             file_name='./' + e.data['images'][18]['file_name']))),
    D('iscrowd-missing', 'coco', 'iscrowd-missing', 'repaired', _set(_nth(18), iscrowd=_DELETE)),
    D('iscrowd-two', 'coco', 'iscrowd-invalid', 'dropped', _set(_nth(19), iscrowd=2)),
    D('annotation-id-missing', 'coco', 'annotation-id-missing', 'repaired',
      _set(_nth(20), id=_DELETE)),
    D('annotation-id-duplicate', 'coco', 'annotation-duplicate-id', 'repaired',
      lambda e: e.annotation(21).update(id=e.annotation(22)['id'])),
    D('ids-as-strings', 'coco', 'id-as-string', 'repaired', _ids_as_strings),
    # -- COCO: images --------------------------------------------------------------------
    D('image-truncated', 'coco', 'image-unreadable', 'dropped', _truncate),
    D('image-zero-bytes', 'coco', 'image-unreadable', 'dropped', _zero_bytes),
    D('image-not-an-image', 'coco', 'image-unreadable', 'dropped', _not_an_image),
    D('image-exif-turned', 'coco', 'image-size-exif', 'dropped', _exif_turned),
    D('image-resized-export', 'coco', 'image-size-mismatch', 'dropped', _resized),
    D('image-size-missing', 'coco', 'image-size-missing', 'repaired',
      lambda e: [e.data['images'][14].pop(k) for k in ('width', 'height')]),
    D('file-name-backslashes', 'coco', 'file-name-backslash', 'repaired', _backslashes),
    D('file-name-subfolders', 'coco', '', 'clean', _subfolders),
    D('grayscale-png', 'coco', '', 'clean', _grayscale_png),
    D('unicode-names-odd-ids', 'coco', 'category-ids-sparse', 'noted', _unicode_and_odd_ids),
    # -- COCO: refused -------------------------------------------------------------------
    D('image-id-duplicate', 'coco', 'image-duplicate-id', 'refused', _duplicate_image_id),
    D('file-listed-twice', 'coco', 'image-duplicate-file', 'refused', _duplicate_file),
    D('image-missing', 'coco', 'image-missing', 'refused',
      lambda e: e.image_file(15).unlink()),
    D('category-id-unknown', 'coco', 'annotation-unknown-category', 'refused',
      _set(_nth(23), category_id=99999)),
    D('image-id-unknown', 'coco', 'annotation-unknown-image', 'refused',
      _set(_nth(24), image_id=99999)),
    D('category-id-duplicate', 'coco', 'category-duplicate-id', 'refused',
      lambda e: e.data['categories'][1].update(id=e.data['categories'][0]['id'])),
    D('category-name-duplicate', 'coco', 'category-duplicate-name', 'refused',
      lambda e: e.data['categories'][1].update(name=e.data['categories'][0]['name'])),
    D('category-without-name', 'coco', 'category-invalid', 'refused',
      lambda e: e.data['categories'][2].pop('name')),
    D('image-without-file-name', 'coco', 'image-entry-invalid', 'refused',
      lambda e: e.data['images'][16].pop('file_name')),
    D('annotation-not-an-object', 'coco', 'annotation-entry-invalid', 'refused',
      lambda e: e.data['annotations'].append([1, 2, 3])),
    D('no-categories-key', 'coco', 'coco-structure', 'refused',
      lambda e: e.data.pop('categories')),
    D('many-images-broken', 'coco', 'too-many-dropped', 'refused', _many_broken),
    # -- label maps ----------------------------------------------------------------------
    D('label-missing', 'segmentation', 'label-missing', 'refused', _seg('label_missing')),
    D('label-orphan', 'segmentation', 'label-orphan', 'refused', _seg('label_orphan')),
    D('label-values', 'segmentation', 'label-values', 'refused', _seg('label_values')),
    D('label-rgb', 'segmentation', 'label-not-single-channel', 'refused', _seg('label_rgb')),
    D('label-size', 'segmentation', 'label-size-mismatch', 'refused', _seg('label_size')),
    D('label-truncated', 'segmentation', 'label-unreadable', 'dropped', _seg('label_truncated')),
    D('seg-image-truncated', 'segmentation', 'image-unreadable', 'dropped',
      _seg('image_truncated')),
    D('seg-image-exif-turned', 'segmentation', 'label-size-mismatch', 'refused',
      _seg('image_exif_turned')),
    D('image-stem-duplicate', 'segmentation', 'image-stem-duplicate', 'refused',
      _seg('image_stem_duplicate')),
    D('image-suffix-mixed', 'segmentation', 'image-suffix-mixed', 'refused',
      _seg('image_suffix_mixed')),
    D('classes-missing', 'segmentation', 'classes-file-missing', 'refused',
      _seg('classes_missing')),
    D('classes-duplicate', 'segmentation', 'classes-file-invalid', 'refused',
      _seg('classes_duplicate')),
    D('label-palette', 'segmentation', '', 'clean', _seg('label_palette')),
    D('classes-bom-crlf', 'segmentation', '', 'clean', _seg('classes_bom_crlf')),
]
BY_NAME = {d.name: d for d in DEFECTS}
# what a user's export may hold at once and still be trained on: every repaired,
# dropped, noted and clean COCO defect that touches other entries than the others
COMBINED_COCO = [d.name for d in DEFECTS if d.layout == 'coco'
                 and d.outcome != 'refused']
COMBINED_SEG = [d.name for d in DEFECTS if d.layout == 'segmentation'
                and d.outcome in ('dropped', 'clean')]


def apply(export: Export, *names: str) -> Export:
    """Apply the defects ``names`` to ``export`` (in place) and write it."""
    if export.data is not None:
        export.data = copy.deepcopy(export.data)
        export._pool = None
    for name in names:
        BY_NAME[name].apply(export)
    export.write()
    return export
