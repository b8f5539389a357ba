"""COCO instances JSON: read, and every field of every entry checked against the image
files, by the rules of :mod:`.rules`.

:func:`clean_coco` returns a copy in which every repairable defect is repaired and every
droppable one dropped (each recorded in a :class:`~.rules.Findings`), or raises the
one-line refusal. What it guards against, in mmdet 3.3 and pycocotools 2.0 terms:
``CocoDataset.parse_data_info`` reads ``bbox`` and ``area`` of every annotation
(KeyError), skips boxes under 1 px and outside the image without a word and takes the
image size from the JSON; ``LoadAnnotations`` needs a mask on every object of a Mask
R-CNN dataset; ``COCOeval`` needs ``iscrowd`` and rasterises every ground-truth polygon
(``frPyObjects`` fails on one with fewer than 3 points) only at the evaluation, after
training.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

from .images import probe_images
from .rules import RULES, DataError, Findings

__all__ = ['read_coco_json', 'clean_coco', 'coco_mask_area']

COCO_KEYS = ('images', 'annotations', 'categories')


def read_coco_json(path: str | Path, what: str = 'annotation file',
                   name: str | None = None) -> dict:
    """The parsed file, refused in one line when it is absent, not JSON or not a COCO
    instances file; ``name``: how messages name it (default: ``what`` and the path)."""
    path = Path(path)
    label = name or f'{what} {path}'
    if not path.is_file():
        raise DataError(f'{what} {path} does not exist; give the path of your COCO '
                        'instances JSON')
    try:
        data = json.loads(path.read_text(encoding='utf-8-sig'))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RULES['coco-structure'].error(f'{label} is not JSON: {e}') from None
    missing = [k for k in COCO_KEYS if not isinstance(data, dict) or k not in data]
    if missing:
        raise RULES['coco-structure'].error(f'{label} is not a COCO instances file: it '
                                            f'lacks {missing}')
    bad = [k for k in COCO_KEYS if not isinstance(data[k], list)]
    if bad:
        raise RULES['coco-structure'].error(f'{label} is not a COCO instances file: '
                                            f'{bad} must be lists')
    return data


def _int_like(value):
    """(the integer, whether it was a string) or (None, False)."""
    if isinstance(value, bool):
        return None, False
    if isinstance(value, int):
        return value, False
    if isinstance(value, float) and value.is_integer():
        return int(value), False
    if isinstance(value, str) and value.strip().lstrip('-').isdigit():
        return int(value.strip()), True
    return None, False


def _number(value):
    """(the finite float, whether it was a string) or (None, False)."""
    if isinstance(value, bool):
        return None, False
    if isinstance(value, (int, float)):
        return (float(value), False) if math.isfinite(value) else (None, False)
    if isinstance(value, str):
        try:
            v = float(value)
        except ValueError:
            return None, False
        return (v, True) if math.isfinite(v) else (None, False)
    return None, False


def _rle(mask, height: int, width: int):
    """pycocotools' RLE of a cleaned mask (polygons or RLE)."""
    from pycocotools import mask as mask_utils
    if isinstance(mask, list):
        return mask_utils.merge(mask_utils.frPyObjects(mask, height, width))
    if isinstance(mask['counts'], list):
        return mask_utils.frPyObjects(mask, height, width)
    return dict(size=mask['size'], counts=mask['counts'].encode())


def coco_mask_area(mask, height: int, width: int) -> float:
    from pycocotools import mask as mask_utils
    return float(mask_utils.area(_rle(mask, height, width)))


def rle_string_runs(text: str) -> list[int] | None:
    """The run lengths of a compressed COCO RLE string (pycocotools' ``rleFrString``:
    6-bit groups from character 48 on, 5 value bits and a continuation bit, runs after the
    second stored as differences), or None when it is not one. pycocotools decodes any
    string without a check: a truncated or foreign one gives a mask of garbage."""
    runs: list[int] = []
    p = 0
    while p < len(text):
        value, k, more = 0, 0, True
        while more:
            if p >= len(text):
                return None
            c = ord(text[p]) - 48
            if not 0 <= c < 64:
                return None
            value |= (c & 0x1f) << (5 * k)
            more = bool(c & 0x20)
            p, k = p + 1, k + 1
            if not more and c & 0x10:
                value |= -1 << (5 * k)
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    return runs


def _clean_mask(seg, height: int, width: int, found: Findings, ref):
    """The segmentation with unusable polygons removed, or None (no usable mask)."""
    if seg is None or seg == [] or seg == {}:
        return None
    if isinstance(seg, dict):
        size, counts = seg.get('size'), seg.get('counts')
        if not (isinstance(size, list) and len(size) == 2
                and all(_int_like(v)[0] is not None for v in size)):
            found.add('rle-invalid', ref)
            return None
        if [_int_like(v)[0] for v in size] != [height, width]:
            found.add('rle-size-mismatch', ref)
            return None
        if isinstance(counts, list):
            runs = [_int_like(v)[0] for v in counts]
            if any(r is None or r < 0 for r in runs) or sum(runs) != height * width:
                found.add('rle-invalid', ref)
                return None
            return dict(size=[height, width], counts=runs)
        if isinstance(counts, str):
            runs = rle_string_runs(counts)
            if runs is None or any(r < 0 for r in runs) or sum(runs) != height * width:
                found.add('rle-invalid', ref)
                return None
            return dict(size=[height, width], counts=counts)
        found.add('rle-invalid', ref)
        return None
    if not isinstance(seg, list):
        found.add('segmentation-invalid', ref)
        return None
    if not any(isinstance(p, (list, dict)) for p in seg):
        found.add('polygon-flat', ref)
        seg = [seg]
    polygons = []
    for poly in seg:
        if not isinstance(poly, list):
            found.add('polygon-not-numbers', ref)
            continue
        values = [_number(v) for v in poly]
        if any(v is None for v, _ in values):
            found.add('polygon-not-numbers', ref)
            continue
        if any(s for _, s in values):
            found.add('number-as-string', ref)
        if len(values) % 2:
            found.add('polygon-odd-length', ref)
            continue
        if len(values) < 6:
            found.add('polygon-too-few-points', ref)
            continue
        polygons.append([v for v, _ in values])
    return polygons or None


def _categories(data: dict, found: Findings) -> list[dict]:
    cats, ids, names = [], {}, {}
    for c in data['categories']:
        cid, as_str = _int_like(c.get('id')) if isinstance(c, dict) else (None, False)
        name = c.get('name') if isinstance(c, dict) else None
        if cid is None or not isinstance(name, str) or not name.strip():
            found.refuse('category-invalid', f'{found.where}: category {json.dumps(c)[:60]} has no '
                         'integer id or no name')
        if as_str:
            found.add('id-as-string', f'category {c["id"]!r}')
        if cid in ids:
            found.refuse('category-duplicate-id', f'{found.where}: categories {ids[cid]!r} and '
                         f'{name!r} share id {cid}')
        if name in names:
            found.refuse('category-duplicate-name', f'{found.where}: categories {names[name]} and '
                         f'{cid} are both named {name!r}')
        ids[cid], names[name] = name, cid
        cats.append(dict(c, id=cid))
    return cats


def _images(data: dict, img_dir: Path, found: Findings, full: bool = True
            ) -> tuple[list[dict], set]:
    """The image entries with sizes from the files; the ids of the dropped ones."""
    images, by_id, by_file = [], {}, {}
    for im in data['images']:
        iid, as_str = _int_like(im.get('id')) if isinstance(im, dict) else (None, False)
        name = im.get('file_name') if isinstance(im, dict) else None
        if iid is None or not isinstance(name, str) or not name.strip():
            found.refuse('image-entry-invalid', f'{found.where}: image {json.dumps(im)[:60]} has no '
                         'integer id or no file_name')
        if as_str:
            found.add('id-as-string', f'image {im["id"]!r}')
        if '\\' in name and not (img_dir / name).is_file():
            fixed = name.replace('\\', '/')
            if (img_dir / fixed).is_file():
                found.add('file-name-backslash', name)
                name = fixed
        if iid in by_id:
            found.refuse('image-duplicate-id', f'{found.where}: images {by_id[iid]} and {name} share '
                         f'id {iid}')
        same = os.path.normpath(name)  # ./a.jpg and a.jpg are one file
        if same in by_file:
            found.refuse('image-duplicate-file', f'{found.where}: images {by_file[same]} and {iid} '
                         f'both name the file {name}')
        by_id[iid], by_file[same] = name, iid
        images.append(dict(im, id=iid, file_name=name))
    missing = [im['file_name'] for im in images if not (img_dir / im['file_name']).is_file()]
    if missing:
        found.refuse('image-missing', f'{len(missing)} images listed in {found.where} are not in '
                     f'{img_dir} (e.g. {missing[0]})')
    dropped = set()
    probes = probe_images((img_dir / im['file_name'] for im in images), full=full)
    for im, probe in zip(images, probes):
        if probe.error:
            found.add('image-unreadable', im['file_name'])
            dropped.add(im['id'])
            continue
        (w, w_str), (h, h_str) = (_int_like(im.get(k)) for k in ('width', 'height'))
        if w_str or h_str:
            found.add('number-as-string', im['file_name'])
        if probe.orientation != 1:
            found.add('image-exif-orientation', im['file_name'])
        if w is None or h is None or w <= 0 or h <= 0:
            found.add('image-size-missing', im['file_name'])
        elif (h, w) != (probe.height, probe.width):
            turned = probe.rotated and (w, h) == (probe.height, probe.width)
            found.add('image-size-exif' if turned else 'image-size-mismatch',
                      f'{im["file_name"]} {w}x{h} vs {probe.width}x{probe.height}')
            dropped.add(im['id'])
            continue
        im['width'], im['height'] = probe.width, probe.height
    return [im for im in images if im['id'] not in dropped], dropped


def _box(ann: dict, mask, height: int, width: int, found: Findings, ref):
    """The clipped [x, y, w, h] box, or None (dropped, recorded)."""
    if ann.get('bbox') is None:
        if mask is None:
            found.add('bbox-missing-no-mask', ref)
            return None
        from pycocotools import mask as mask_utils
        found.add('bbox-missing', ref)
        box = [float(v) for v in mask_utils.toBbox(_rle(mask, height, width))]
    else:
        raw = ann['bbox']
        values = [_number(v) for v in raw] if isinstance(raw, list) and len(raw) == 4 else []
        if not values or any(v is None for v, _ in values):
            found.add('bbox-malformed', ref)
            return None
        if any(s for _, s in values):
            found.add('number-as-string', ref)
        box = [v for v, _ in values]
    x, y, w, h = box
    if w < 1 or h < 1:
        found.add('bbox-degenerate', ref)
        return None
    x1, y1, x2, y2 = max(0.0, x), max(0.0, y), min(float(width), x + w), min(float(height), y + h)
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        found.add('bbox-outside', ref)
        return None
    if (x1, y1, x2, y2) != (x, y, x + w, y + h):
        if x2 - x1 < 1 or y2 - y1 < 1:  # under 1 px once clipped: dropped, not clipped
            found.add('bbox-degenerate', ref)
            return None
        found.add('bbox-clipped', ref)
    return [x1, y1, x2 - x1, y2 - y1]


def clean_coco(data: dict, img_dir: str | Path, found: Findings,
               masks: bool | None = None, full: bool = True) -> tuple[dict, bool]:
    """The checked and repaired copy of ``data`` (images under ``img_dir``) and whether
    its objects are trained with masks (``masks``; None: when most objects have a
    usable mask; then objects without one are dropped). Ids become integers;
    annotations get new ids where theirs were missing, not positive or shared;
    categories are written in id order (the order of the classes). ``full``: decode
    every image (else headers only, :func:`.images.probe_image`)."""
    img_dir = Path(img_dir)
    categories = sorted(_categories(data, found), key=lambda c: c['id'])
    cat_ids = {c['id'] for c in categories}
    images, dropped_images = _images(data, img_dir, found, full)
    listed = {_int_like(im.get('id'))[0] for im in data['images']}
    sizes = {im['id']: (im['height'], im['width']) for im in images}
    kept, ids, unusable = [], [], []
    for ann in data['annotations']:
        if not isinstance(ann, dict):
            found.refuse('annotation-entry-invalid', f'{found.where}: annotation {json.dumps(ann)[:60]} '
                         'is not a JSON object')
        ref = ann.get('id')
        aid, as_str = _int_like(ann.get('id'))
        iid, iid_str = _int_like(ann.get('image_id'))
        cid, cid_str = _int_like(ann.get('category_id'))
        if as_str or iid_str or cid_str:
            found.add('id-as-string', ref)
        if iid not in listed:
            found.refuse('annotation-unknown-image',
                         f'annotation {ref} in {found.where} refers to image_id '
                         f'{ann.get("image_id")!r}, which it does not list')
        if cid not in cat_ids:
            found.refuse('annotation-unknown-category',
                         f'annotation {ref} in {found.where} has category_id '
                         f'{ann.get("category_id")!r}, which is not among its categories '
                         f'{sorted(cat_ids)[:10]}')
        if iid in dropped_images:
            found.add('annotation-of-dropped-image', ref)
            continue
        height, width = sizes[iid]
        out = dict(ann, image_id=iid, category_id=cid)
        if out.pop('ignore', None):  # mmdet skips it in training, COCOeval scores it
            found.add('ignore-flag', ref)
            ann = dict(ann, iscrowd=1)
        crowd = ann.get('iscrowd')
        if crowd is None:
            found.add('iscrowd-missing', ref)
            crowd = 0
        else:
            value, crowd_str = _int_like(crowd) if not isinstance(crowd, bool) else (int(crowd), False)
            if value not in (0, 1):
                found.add('iscrowd-invalid', ref)
                continue
            if crowd_str:
                found.add('number-as-string', ref)
            crowd = value
        out['iscrowd'] = crowd
        given = ann.get('segmentation') not in (None, [], {})
        mask = _clean_mask(ann.get('segmentation'), height, width, found, ref)
        box = _box(ann, mask, height, width, found, ref)
        if box is None:
            continue
        out['bbox'] = box
        area, area_str = _number(ann.get('area'))
        if area is None or area <= 0:
            found.add('area-missing' if area is None else 'area-not-positive', ref)
            area = coco_mask_area(mask, height, width) if mask is not None else 0.0
            area = area if area > 0 else box[2] * box[3]  # a mask of no pixel: the box's
        elif area_str:
            found.add('number-as-string', ref)
        out['area'] = area
        if mask is None:
            out.pop('segmentation', None)
        else:
            out['segmentation'] = mask
        kept.append(out)
        ids.append(aid)
        unusable.append(given and mask is None)
    objects = [a for a in kept if not a['iscrowd']]
    with_mask = sum('segmentation' in a for a in objects)
    if masks is None:  # most objects have masks: a mask dataset
        masks = with_mask > len(objects) / 2
        if 0 < with_mask <= len(objects) / 2:
            found.add('masks-few', None, f'only {with_mask} of {len(objects)} objects have a '
                      'mask: trained as boxes (RetinaNet); give --models mask_rcnn to train '
                      'masks on those alone')
    if masks:
        keep = ['segmentation' in a for a in kept]
        if kept and not any(keep):
            raise RULES['mask-missing'].error(
                f'{found.where}: none of its {len(kept)} objects has a usable mask, and Mask '
                'R-CNN needs one for every object',
                'give --models retinanet (boxes only) or an export with masks')
        for a, k, u in zip(kept, keep, unusable):
            if not k:
                found.add('mask-unusable' if u else 'mask-missing', a.get('id'))
        kept = [a for a, k in zip(kept, keep) if k]
        ids = [i for i, k in zip(ids, keep) if k]
    seen, next_id = set(), max([i for i in ids if i is not None], default=0) + 1
    for ann, aid in zip(kept, ids):
        if aid is None or aid <= 0:  # COCOeval's matching reads id 0 as "no match"
            found.add('annotation-id-missing', ann.get('id'))
        elif aid in seen:
            found.add('annotation-duplicate-id', aid)
        else:
            seen.add(aid)
            ann['id'] = aid
            continue
        ann['id'], next_id = next_id, next_id + 1
    found.check_drops({'images': len(data['images']), 'annotations': len(data['annotations'])})
    return dict(data, images=images, annotations=kept, categories=categories), masks
