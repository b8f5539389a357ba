"""Deterministic toy datasets in the on-disk formats of COCO instances, ADE20K and
ImageNet (mmpretrain's ``data/imagenet`` layout).

The scenes are meant to be learnt in minutes on a CPU (smoke training of Mask R-CNN and
UPerNet) while exercising what real data exercises in loaders and metrics: COCO category
ids with gaps, polygon *and* RLE masks, images without objects, varied sizes and aspect
ratios, occlusion, and unlabelled (0) pixels in ADE20K label maps.

Every class is a shape with a class-typical hue (red circles, blue rectangles, ...),
filled with a texture of that hue and painted over a textured low-saturation background
with low-saturation clutter that belongs to no class. Later shapes occlude earlier ones;
annotations describe the visible part. A toy ImageNet image holds one shape, its class,
over the same background and clutter (the pretraining task of the other two).

Each image draws from its own random stream, seeded by (seed, dataset, split, index): the
same arguments give byte-identical files, and a smaller dataset is a prefix of a larger.

mmseg's ``ADE20KDataset`` refuses ``metainfo`` classes that are not among its 150 ADE
names, so toy configs use ``BaseSegDataset`` with ADE20KDataset's own settings
(``img_suffix='.jpg', seg_map_suffix='.png', reduce_zero_label=True``) and
``metainfo=dict(classes=TOY_ADE_CLASSES, palette=TOY_ADE_PALETTE)``.
"""
import json
import os
import shutil
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple, Union

import cv2
import numpy as np
import pycocotools.mask as mask_util

__all__ = [
    'GENERATOR_VERSION', 'DEFAULT_NUM_TRAIN', 'DEFAULT_NUM_VAL', 'DEFAULT_IMAGE_SIZE', 'TOY_COCO_CLASSES',
    'TOY_COCO_CATEGORY_IDS', 'TOY_COCO_PALETTE', 'TOY_ADE_CLASSES', 'TOY_ADE_PALETTE',
    'TOY_IMAGENET_CLASSES', 'TOY_DATASETS', 'make_toy_coco', 'make_toy_ade', 'make_toy_imagenet',
    'existing_toy_summary', 'ensure_toy_dataset'
]

# Bump whenever the files generated for a given seed change.
GENERATOR_VERSION = 3
DEFAULT_NUM_TRAIN = 200
DEFAULT_NUM_VAL = 50
# Height and width are drawn independently from this range (inclusive).
DEFAULT_IMAGE_SIZE = (128, 192)

SHAPES = ('circle', 'rectangle', 'triangle', 'star', 'ring')
# OpenCV hues (0-179): red, blue, green, yellow, magenta; far enough apart that colour
# alone nearly separates the classes.
_SHAPE_HUES = (0, 118, 60, 28, 150)

TOY_COCO_CLASSES = SHAPES
# Gaps on purpose: loaders must map category ids to contiguous labels.
TOY_COCO_CATEGORY_IDS = (1, 2, 4, 5, 7)
TOY_COCO_PALETTE = ((220, 20, 60), (30, 60, 220), (30, 170, 60), (240, 200, 20),
                    (200, 40, 200))
# Pixel values 1..N of the label maps; 0 is "other" (ignored with reduce_zero_label).
TOY_ADE_CLASSES = ('sky', 'ground') + SHAPES
TOY_ADE_PALETTE = ((135, 206, 235), (140, 100, 60)) + TOY_COCO_PALETTE
# Labels 0..N-1 of the toy ImageNet (class folder names, in label order).
TOY_IMAGENET_CLASSES = SHAPES

META_FILE = 'toy_meta.json'
_GENERATOR = 'trtvit_dense.datasets.toy'
_DATASET_KEYS = {'coco': 0, 'ade': 1, 'imagenet': 2}
_SPLITS = ('train', 'val')
_ADE_SPLIT_DIRS = {'train': 'training', 'val': 'validation'}
JPEG_QUALITY = 90
# Every tenth image (the 4th, 14th, ...) of a COCO split has no objects.
_EMPTY_EVERY, _EMPTY_OFFSET = 10, 3
# A shape whose visible part falls below this is left out of the scene rather than
# painted unlabelled: an unannotated sliver would teach the model it is background.
_MIN_VISIBLE_FRACTION, _MIN_VISIBLE_PIXELS = 0.3, 150
# Below this the smallest shapes fall under _MIN_VISIBLE_PIXELS and scenes come out empty.
_MIN_IMAGE_SIDE = 64

PathLike = Union[str, os.PathLike]
Colour = np.ndarray  # float32 BGR, shape (3,)


def _image_size(rng: np.random.Generator, size_range: Tuple[int, int]) -> Tuple[int, int]:
    height, width = rng.integers(size_range[0], size_range[1] + 1, size=2)
    return int(height), int(width)


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A float32 (h, w) field in [0, 1]: gradient, stripes, smooth noise or checkers."""
    angle = rng.uniform(0, np.pi)
    y, x = np.ogrid[:h, :w]
    along = (x * np.cos(angle) + y * np.sin(angle)).astype(np.float32)
    kind = rng.integers(4)
    if kind == 0:
        return (along - along.min()) / max(float(np.ptp(along)), 1.0)
    if kind == 1:
        period, phase = rng.uniform(6, 40), rng.uniform(0, 2 * np.pi)
        return 0.5 + 0.5 * np.sin(along * (2 * np.pi / period) + phase)
    if kind == 2:
        coarse = rng.random((int(rng.integers(2, 9)), int(rng.integers(2, 9))),
                            dtype=np.float32)
        return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)
    across = (y * np.cos(angle) - x * np.sin(angle)).astype(np.float32)
    cell = rng.uniform(8, 40)
    return ((np.floor(along / cell) + np.floor(across / cell)) % 2).astype(np.float32)


def _hsv(hue: float, saturation: float, value: float) -> Colour:
    pixel = np.uint8([[[int(hue) % 180, saturation, value]]])
    return cv2.cvtColor(pixel, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)


def _dull_colours(rng: np.random.Generator) -> Tuple[Colour, Colour]:
    """Two low-saturation colours: backgrounds and clutter, never confused with shapes."""
    return tuple(_hsv(rng.integers(180), rng.integers(0, 60), rng.integers(50, 230))
                 for _ in range(2))


def _shape_colours(rng: np.random.Generator, shape: int) -> Tuple[Colour, Colour]:
    hue = _SHAPE_HUES[shape] + rng.integers(-6, 7)
    saturation, value = rng.integers(170, 256), rng.integers(160, 256)
    darker = value * rng.uniform(0.5, 0.8)
    return _hsv(hue, saturation, value), _hsv(hue, saturation, darker)


def _paint(rng: np.random.Generator, canvas: np.ndarray, mask: np.ndarray,
           colours: Tuple[Colour, Colour]) -> None:
    """Fill ``canvas[mask]`` with a texture blending the two colours."""
    h, w = mask.shape
    blend = _texture(rng, h, w)[mask][:, None]
    canvas[mask] = colours[0] + (colours[1] - colours[0]) * blend


def _shape_mask(rng: np.random.Generator, shape: str, h: int, w: int) -> np.ndarray:
    # Extent (2 * radius) between 28% and 50% of the short side: on 128-192 px images
    # resized to 160 px the smallest shapes are ~30 px, the smallest anchor of mmdet's
    # detectors (version 1 went down to 18%, whose 20 px shapes cost the demo's short
    # schedules most of their box mAP).
    radius = rng.uniform(0.14, 0.25) * min(h, w)
    # At most half the radius may stick out of the image.
    cx, cy = rng.uniform(radius / 2, w - radius / 2), rng.uniform(radius / 2, h - radius / 2)
    angle = rng.uniform(0, 2 * np.pi)
    mask = np.zeros((h, w), np.uint8)
    if shape in ('circle', 'ring'):
        cv2.circle(mask, (round(cx), round(cy)), round(radius), 1, -1)
        if shape == 'ring':
            cv2.circle(mask, (round(cx), round(cy)), round(radius * rng.uniform(0.45, 0.6)),
                       0, -1)
        return mask.astype(bool)
    if shape == 'rectangle':
        sides = 2 * radius * rng.uniform(0.55, 0.95, size=2)
        points = cv2.boxPoints(((cx, cy), tuple(sides), np.degrees(angle)))
    else:
        if shape == 'triangle':
            angles = angle + np.arange(3) * 2 * np.pi / 3 + rng.uniform(-0.2, 0.2, size=3)
            radii = np.full(3, radius)
        else:  # a five-pointed star: alternating outer and inner vertices
            angles = angle + np.arange(10) * np.pi / 5
            radii = np.where(np.arange(10) % 2 == 0, radius, 0.45 * radius)
        points = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
    return mask.astype(bool)


def _visible_masks(masks: List[np.ndarray], h: int, w: int) -> List[np.ndarray]:
    """The part of each mask (in paint order) not covered by later ones."""
    visible, covered = [], np.zeros((h, w), bool)
    for mask in reversed(masks):
        visible.append(mask & ~covered)
        covered |= mask
    return visible[::-1]


def _sample_shapes(rng: np.random.Generator, h: int, w: int,
                   count: int) -> List[Tuple[int, np.ndarray]]:
    """``count`` random shapes or fewer, in paint order, as (shape index, visible mask)."""
    shapes = [int(rng.integers(len(SHAPES))) for _ in range(count)]
    masks = [_shape_mask(rng, SHAPES[shape], h, w) for shape in shapes]
    kept = [(shape, mask)
            for shape, mask, visible in zip(shapes, masks, _visible_masks(masks, h, w))
            if visible.sum() >= max(_MIN_VISIBLE_PIXELS, _MIN_VISIBLE_FRACTION * mask.sum())]
    # Leaving a shape out only uncovers shapes below it, so one pass is enough.
    return list(zip([shape for shape, _ in kept], _visible_masks([m for _, m in kept], h, w)))


def _clutter_masks(rng: np.random.Generator, h: int, w: int) -> List[np.ndarray]:
    masks = []
    for _ in range(rng.integers(0, 4)):
        mask = np.zeros((h, w), np.uint8)
        centre = (int(rng.integers(w)), int(rng.integers(h)))
        axes = tuple(int(a) for a in rng.uniform(0.05, 0.2, size=2) * min(h, w))
        cv2.ellipse(mask, centre, axes, rng.uniform(0, 180), 0, 360, 1, -1)
        masks.append(mask.astype(bool))
    return masks


def _finish(rng: np.random.Generator, canvas: np.ndarray) -> np.ndarray:
    """Soften edges and add sensor-like noise; returns the uint8 BGR image."""
    blurred = cv2.GaussianBlur(canvas, (3, 3), 0)
    noisy = blurred + rng.normal(0, rng.uniform(2, 6), size=canvas.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def _coco_image(rng: np.random.Generator, num_shapes: int,
                size_range: Tuple[int, int]) -> Tuple[np.ndarray, List[Tuple[int, np.ndarray]]]:
    h, w = _image_size(rng, size_range)
    canvas = np.empty((h, w, 3), np.float32)
    _paint(rng, canvas, np.ones((h, w), bool), _dull_colours(rng))
    for mask in _clutter_masks(rng, h, w):
        _paint(rng, canvas, mask, _dull_colours(rng))
    objects = _sample_shapes(rng, h, w, num_shapes)
    for shape, visible in objects:
        _paint(rng, canvas, visible, _shape_colours(rng, shape))
    return _finish(rng, canvas), objects


def _ade_image(rng: np.random.Generator,
               size_range: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
    h, w = _image_size(rng, size_range)
    y, x = np.ogrid[:h, :w]
    horizon = (rng.uniform(0.25, 0.75) * h + np.tan(rng.uniform(-0.2, 0.2)) * (x - w / 2) +
               rng.uniform(0, 0.04) * h * np.sin(x * rng.uniform(0.01, 0.05) + rng.uniform(0, 6)))
    sky = np.broadcast_to(y < horizon, (h, w))
    labels = np.where(sky, 1, 2).astype(np.uint8)
    canvas = np.empty((h, w, 3), np.float32)
    _paint(rng, canvas, sky, tuple(
        _hsv(rng.integers(95, 110), rng.integers(40, 120), rng.integers(170, 250))
        for _ in range(2)))
    _paint(rng, canvas, ~sky, tuple(
        _hsv(rng.integers(8, 22), rng.integers(60, 150), rng.integers(60, 160))
        for _ in range(2)))
    for mask in _clutter_masks(rng, h, w):
        _paint(rng, canvas, mask, _dull_colours(rng))
        labels[mask] = 0
    objects = _sample_shapes(rng, h, w, int(rng.integers(1, 6)))
    for shape, visible in objects:
        _paint(rng, canvas, visible, _shape_colours(rng, shape))
        labels[visible] = TOY_ADE_CLASSES.index(SHAPES[shape]) + 1
    # ADE20K leaves many object outlines unlabelled; so do about half of the shapes here.
    kernel = np.ones((3, 3), np.uint8)
    for _, visible in objects:
        if rng.random() < 0.5:
            mask = visible.astype(np.uint8)
            labels[(cv2.dilate(mask, kernel) > 0) & (cv2.erode(mask, kernel) == 0)] = 0
    return _finish(rng, canvas), labels


def _imagenet_image(rng: np.random.Generator, label: int,
                    size_range: Tuple[int, int]) -> np.ndarray:
    """One shape of class ``label`` over background and clutter, drawn again (from the
    same stream) until enough of it is visible."""
    h, w = _image_size(rng, size_range)
    while True:
        canvas = np.empty((h, w, 3), np.float32)
        _paint(rng, canvas, np.ones((h, w), bool), _dull_colours(rng))
        for mask in _clutter_masks(rng, h, w):
            _paint(rng, canvas, mask, _dull_colours(rng))
        mask = _shape_mask(rng, SHAPES[label], h, w)
        if mask.sum() >= _MIN_VISIBLE_PIXELS:
            _paint(rng, canvas, mask, _shape_colours(rng, label))
            return _finish(rng, canvas)


def _coco_segmentation(visible: np.ndarray) -> Union[List[List[float]], Dict[str, object]]:
    """A polygon for a single region without holes, a compressed RLE otherwise."""
    # COCO rasterises a polygon by pixel centres (pixel x spans [x, x + 1]), so a contour
    # through pixel indices would lose half a pixel all round. Contours of the mask
    # upsampled 2x, mapped back by (u + 0.5) / 2, run a quarter pixel inside the pixel
    # edges and decode to exactly the mask; approxPolyDP(0.5) merges staircase steps
    # without changing the decoded mask.
    upsampled = cv2.resize(visible.astype(np.uint8), None, fx=2, fy=2,
                           interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(upsampled, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    # RETR_CCOMP lists holes as contours too, so one contour means one simple region.
    if len(contours) == 1:
        outline = cv2.approxPolyDP(contours[0], 0.5, True).reshape(-1)
        if len(outline) >= 6:
            return [((outline + 0.5) / 2).tolist()]
    rle = mask_util.encode(np.asfortranarray(visible.astype(np.uint8)))
    return dict(size=[int(s) for s in rle['size']], counts=rle['counts'].decode('ascii'))


def _image_rng(seed: int, dataset: str, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, _DATASET_KEYS[dataset], _SPLITS.index(split), index])


def _write_image(path: Path, image: np.ndarray) -> None:
    params = ([cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if path.suffix == '.jpg' else
              [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not cv2.imwrite(str(path), image, params):
        raise OSError(f'could not write {path}')


def _write_coco_split(root: Path, split: str, seed: int, count: int,
                      size_range: Tuple[int, int]) -> Dict[str, int]:
    (root / split).mkdir(parents=True)
    (root / 'annotations').mkdir(exist_ok=True)
    images, annotations = [], []
    for index in range(count):
        rng = _image_rng(seed, 'coco', split, index)
        empty = index % _EMPTY_EVERY == _EMPTY_OFFSET
        image, objects = _coco_image(rng, 0 if empty else int(rng.integers(1, 6)), size_range)
        image_id, (h, w) = index + 1, image.shape[:2]
        file_name = f'{image_id:012d}.jpg'
        _write_image(root / split / file_name, image)
        images.append(dict(id=image_id, file_name=file_name, height=h, width=w, license=1))
        for shape, visible in objects:
            rle = mask_util.encode(np.asfortranarray(visible.astype(np.uint8)))
            annotations.append(
                dict(id=len(annotations) + 1, image_id=image_id,
                     category_id=TOY_COCO_CATEGORY_IDS[shape],
                     segmentation=_coco_segmentation(visible), area=float(mask_util.area(rle)),
                     bbox=mask_util.toBbox(rle).tolist(), iscrowd=0))
    coco = dict(
        info=dict(description='trtvit-dense toy COCO instances', contributor=_GENERATOR,
                  version=str(GENERATOR_VERSION)),
        licenses=[dict(id=1, name='CC0 1.0',
                       url='https://creativecommons.org/publicdomain/zero/1.0/')],
        images=images, annotations=annotations,
        categories=[dict(id=cat_id, name=name, supercategory='shape')
                    for cat_id, name in zip(TOY_COCO_CATEGORY_IDS, TOY_COCO_CLASSES)])
    with open(root / 'annotations' / f'instances_{split}.json', 'w') as f:
        json.dump(coco, f, separators=(',', ':'))
    num_rle = sum(isinstance(a['segmentation'], dict) for a in annotations)
    return dict(images=count, annotations=len(annotations),
                empty_images=count - len({a['image_id'] for a in annotations}),
                rle_annotations=num_rle, polygon_annotations=len(annotations) - num_rle)


def _write_ade_split(root: Path, split: str, seed: int, count: int,
                     size_range: Tuple[int, int]) -> Dict[str, object]:
    img_dir, ann_dir = (root / 'ADEChallengeData2016' / kind / _ADE_SPLIT_DIRS[split]
                        for kind in ('images', 'annotations'))
    img_dir.mkdir(parents=True)
    ann_dir.mkdir(parents=True)
    pixels = np.zeros(len(TOY_ADE_CLASSES) + 1, np.int64)
    for index in range(count):
        image, labels = _ade_image(_image_rng(seed, 'ade', split, index), size_range)
        stem = f'ADE_{split}_{index + 1:08d}'  # ADE20K's own naming
        _write_image(img_dir / f'{stem}.jpg', image)
        _write_image(ann_dir / f'{stem}.png', labels)
        pixels += np.bincount(labels.ravel(), minlength=len(pixels))
    # label value i (1..N) is line i of the class list (0 is ignored, reduce_zero_label)
    (root / 'ADEChallengeData2016' / 'classes.txt').write_text(
        ''.join(f'{c}\n' for c in TOY_ADE_CLASSES))
    fractions = (pixels / pixels.sum()).round(4).tolist()
    return dict(images=count, ignored_fraction=fractions[0],
                class_fraction=dict(zip(TOY_ADE_CLASSES, fractions[1:])))


def _write_imagenet_split(root: Path, split: str, seed: int, count: int,
                          size_range: Tuple[int, int]) -> Dict[str, object]:
    (root / 'meta').mkdir(exist_ok=True)
    for name in TOY_IMAGENET_CLASSES:
        (root / split / name).mkdir(parents=True)
    lines, per_class = [], [0] * len(TOY_IMAGENET_CLASSES)
    for index in range(count):
        label = index % len(TOY_IMAGENET_CLASSES)  # balanced classes, interleaved
        image = _imagenet_image(_image_rng(seed, 'imagenet', split, index), label, size_range)
        rel = f'{TOY_IMAGENET_CLASSES[label]}/{split}_{index + 1:08d}.jpg'
        _write_image(root / split / rel, image)
        lines.append(f'{rel} {label}\n')
        per_class[label] += 1
    # mmpretrain's ImageNet annotation list: "<path relative to the split folder> <label>"
    (root / 'meta' / f'{split}.txt').write_text(''.join(lines))
    (root / 'classes.txt').write_text(''.join(f'{c}\n' for c in TOY_IMAGENET_CLASSES))
    return dict(images=count, per_class=dict(zip(TOY_IMAGENET_CLASSES, per_class)))


def _read_meta(out_dir: Path) -> Optional[dict]:
    try:
        meta = json.loads((out_dir / META_FILE).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get('generator') == _GENERATOR else None


def _check_args(out_dir: Path, kind: str, seed: int, num_train: int, num_val: int,
                image_size: Tuple[int, int]) -> None:
    for name, value in (('num_train', num_train), ('num_val', num_val)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f'{name} must be a positive integer, got {value!r}')
    if (len(image_size) != 2 or not all(isinstance(v, int) for v in image_size) or
            not _MIN_IMAGE_SIDE <= image_size[0] <= image_size[1]):
        raise ValueError(f'image_size must be (min, max) side lengths with '
                         f'{_MIN_IMAGE_SIDE} <= min <= max, got {tuple(image_size)!r}')
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f'seed must be a non-negative integer, got {seed!r}')
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f'out_dir {str(out_dir)!r} exists and is not a directory')
    if out_dir.is_dir() and any(out_dir.iterdir()) and (_read_meta(out_dir) or {}).get(
            'kind') != kind:
        raise ValueError(f'out_dir {str(out_dir)!r} is a non-empty directory that is not a '
                         f'toy {kind} dataset; refusing to replace it')


def _generate(out_dir: PathLike, kind: str, seed: int, num_train: int, num_val: int,
              image_size: Tuple[int, int],
              write_split: Callable[[Path, str, int, int, Tuple[int, int]], dict]) -> dict:
    out_dir = Path(out_dir)
    image_size = tuple(image_size)
    _check_args(out_dir, kind, seed, num_train, num_val, image_size)
    # Build beside the target and rename into place: a killed run never leaves a
    # half-written dataset under the final name.
    tmp_dir = out_dir.with_name(f'.{out_dir.name}.tmp-{os.getpid()}')
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir(parents=True)
    try:
        summary = {split: write_split(tmp_dir, split, seed, count, image_size)
                   for split, count in zip(_SPLITS, (num_train, num_val))}
        meta = dict(generator=_GENERATOR, version=GENERATOR_VERSION, kind=kind, seed=seed,
                    num_train=num_train, num_val=num_val, image_size=list(image_size),
                    summary=summary)
        (tmp_dir / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + '\n')
        if out_dir.exists():
            old_dir = out_dir.with_name(f'.{out_dir.name}.old-{os.getpid()}')
            out_dir.rename(old_dir)
            tmp_dir.rename(out_dir)
            shutil.rmtree(old_dir)
        else:
            tmp_dir.rename(out_dir)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return summary


def make_toy_coco(out_dir: PathLike, num_train: int = DEFAULT_NUM_TRAIN,
                  num_val: int = DEFAULT_NUM_VAL, seed: int = 0,
                  image_size: Tuple[int, int] = DEFAULT_IMAGE_SIZE) -> dict:
    """Write a toy dataset in the COCO instances layout.

    Files: ``annotations/instances_{train,val}.json``, ``{train,val}/<id:012d>.jpg`` and
    ``toy_meta.json`` (generator version, arguments, summary). An existing toy COCO
    dataset at ``out_dir`` is replaced; any other non-empty directory is refused.

    Args:
        out_dir: Dataset root (``data_root`` of the configs).
        num_train: Number of training images.
        num_val: Number of validation images.
        seed: Seed of the random streams; equal seeds give byte-identical files.
        image_size: (min, max) side length in pixels; height and width are drawn
            independently from this range.

    Returns:
        Per split: counts of ``images``, ``annotations``, ``empty_images``,
        ``rle_annotations`` and ``polygon_annotations``.

    Raises:
        ValueError: A count is not a positive integer, ``seed`` is negative, or
            ``out_dir`` holds something other than a toy COCO dataset.
    """
    return _generate(out_dir, 'coco', seed, num_train, num_val, image_size, _write_coco_split)


def make_toy_ade(out_dir: PathLike, num_train: int = DEFAULT_NUM_TRAIN,
                 num_val: int = DEFAULT_NUM_VAL, seed: int = 0,
                 image_size: Tuple[int, int] = DEFAULT_IMAGE_SIZE) -> dict:
    """Write a toy dataset in the ADE20K (ADEChallengeData2016) layout.

    Files: ``ADEChallengeData2016/images/{training,validation}/ADE_{train,val}_<n:08d>.jpg``,
    single-channel PNG label maps of the same stems under ``annotations/``,
    ``ADEChallengeData2016/classes.txt`` (the class of label value ``i`` on line ``i``) and
    ``toy_meta.json``. Label 0 is "other" (clutter and some object outlines), labels
    ``1..len(TOY_ADE_CLASSES)`` are :data:`TOY_ADE_CLASSES`. Replacement rules as in
    :func:`make_toy_coco`.

    Args:
        out_dir: Directory that receives ``ADEChallengeData2016/``.
        num_train: Number of training images.
        num_val: Number of validation images.
        seed: Seed of the random streams; equal seeds give byte-identical files.
        image_size: As in :func:`make_toy_coco`.

    Returns:
        Per split: ``images``, the ``ignored_fraction`` of pixels (label 0) and the
        ``class_fraction`` of pixels per class name.

    Raises:
        ValueError: A count is not a positive integer, ``seed`` is negative, or
            ``out_dir`` holds something other than a toy ADE dataset.
    """
    return _generate(out_dir, 'ade', seed, num_train, num_val, image_size, _write_ade_split)


def make_toy_imagenet(out_dir: PathLike, num_train: int = DEFAULT_NUM_TRAIN,
                      num_val: int = DEFAULT_NUM_VAL, seed: int = 0,
                      image_size: Tuple[int, int] = DEFAULT_IMAGE_SIZE) -> dict:
    """Write a toy classification dataset in mmpretrain's ImageNet layout.

    Files: ``{train,val}/<class>/{train,val}_<n:08d>.jpg`` (one folder per class of
    :data:`TOY_IMAGENET_CLASSES`), ``meta/{train,val}.txt`` (one ``<class>/<file> <label>``
    line per image, as ImageNet's ``meta/`` lists), ``classes.txt`` (the class of label
    ``i`` on line ``i``) and ``toy_meta.json``. Classes take
    turns, so every split is balanced. Replacement rules as in :func:`make_toy_coco`.

    Args:
        out_dir: Dataset root (``data_root`` of the configs).
        num_train: Number of training images.
        num_val: Number of validation images.
        seed: Seed of the random streams; equal seeds give byte-identical files.
        image_size: As in :func:`make_toy_coco`.

    Returns:
        Per split: ``images`` and ``per_class`` image counts.

    Raises:
        ValueError: A count is not a positive integer, ``seed`` is negative, or
            ``out_dir`` holds something other than a toy ImageNet dataset.
    """
    return _generate(out_dir, 'imagenet', seed, num_train, num_val, image_size,
                     _write_imagenet_split)


def existing_toy_summary(out_dir: PathLike, kind: str, seed: int, num_train: int,
                         num_val: int,
                         image_size: Tuple[int, int] = DEFAULT_IMAGE_SIZE) -> Optional[dict]:
    """The summary of the toy ``kind`` ('coco', 'ade' or 'imagenet') dataset at ``out_dir`` if it was
    generated with these arguments by this generator version, else None."""
    meta = _read_meta(Path(out_dir))
    expected = dict(version=GENERATOR_VERSION, kind=kind, seed=seed, num_train=num_train,
                    num_val=num_val, image_size=list(image_size))
    if meta is None or any(meta.get(key) != value for key, value in expected.items()):
        return None
    return meta['summary']


def ensure_toy_dataset(out_dir: PathLike, kind: str, force: bool = False, seed: int = 0,
                       num_train: int = DEFAULT_NUM_TRAIN, num_val: int = DEFAULT_NUM_VAL,
                       image_size: Tuple[int, int] = DEFAULT_IMAGE_SIZE) -> Tuple[dict, bool]:
    """``(summary, generated)``: the toy ``kind`` ('coco', 'ade', 'imagenet') dataset at ``out_dir``,
    generated unless one made with the same arguments by this generator version is
    there already (``force`` regenerates it anyway)."""
    params = dict(seed=seed, num_train=num_train, num_val=num_val, image_size=image_size)
    summary = None if force else existing_toy_summary(out_dir, kind, **params)
    if summary is not None:
        return summary, False
    make = TOY_DATASETS.get(kind)
    if make is None:
        raise ValueError(f'kind must be one of {tuple(TOY_DATASETS)}, got {kind!r}')
    return make(out_dir, **params), True


# The toy datasets by kind (tools/make_toy_data.py generates each into <out-dir>/toy_<kind>).
TOY_DATASETS: Dict[str, Callable[..., dict]] = {
    'coco': make_toy_coco, 'ade': make_toy_ade, 'imagenet': make_toy_imagenet}
