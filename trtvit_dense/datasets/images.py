"""Image files: the one list of extensions the package reads, the one way to list a
folder's images, and the check that decodes a file as mmcv's loaders will.

mmdet's and mmseg's ``LoadImageFromFile`` decode with ``mmcv.imfrombytes(flag='color')``
(OpenCV's ``imdecode``, which turns the image by its EXIF orientation tag), so the size
a model sees, and that annotations must be in, is the size *after* that turn.
:func:`probe_image` decodes the same way and also catches what OpenCV lets through: a
truncated JPEG decodes with a grey bottom and only a warning, so the file is read to
its end by Pillow too.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

__all__ = ['IMAGE_EXTS', 'is_image_file', 'folder_images', 'ImageProbe', 'probe_image',
           'probe_images']

# what mmcv decodes and the tools accept: mmpretrain's CustomDataset defaults (.jpg
# .jpeg .png .ppm .bmp .pgm .tif) and .tiff, .webp
IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')


def is_image_file(path: str | Path) -> bool:
    """Whether ``path`` names an image by its extension (:data:`IMAGE_EXTS`, any case)."""
    return Path(path).suffix.lower() in IMAGE_EXTS


def folder_images(folder: str | Path) -> list[Path]:
    """The image files (:data:`IMAGE_EXTS`) directly in ``folder``, sorted by name."""
    return sorted(f for f in Path(folder).iterdir() if f.is_file() and is_image_file(f))


@dataclass(frozen=True)
class ImageProbe:
    """What decoding a file found: its size as mmcv decodes it (``height``, ``width``,
    after the EXIF turn), whether EXIF ``rotated`` it (its sides swap), its EXIF
    ``orientation`` (1: none), or ``error`` (then sizes are 0): ``'missing'``,
    ``'empty'`` (zero bytes), ``'undecodable'`` or ``'truncated'``."""
    path: str
    height: int = 0
    width: int = 0
    rotated: bool = False
    error: str | None = None
    detail: str = ''
    orientation: int = 1


EXIF_ORIENTATION = 0x0112
SWAPPING = (5, 6, 7, 8)  # EXIF orientations that turn by 90 degrees


def _truncation(error: Exception) -> bool:
    text = str(error)
    return 'truncated' in text or 'broken data' in text or 'image file is' in text


def probe_image(path: str | Path, full: bool = True) -> ImageProbe:
    """Decode ``path`` as mmcv's ``imfrombytes(flag='color')`` does (see the module).

    ``full=False`` (the tools' pre-flight, which may see ImageNet's 1.3M files) reads
    the header only: Pillow's structure check and size, turned by a JPEG's EXIF tag as
    OpenCV turns it; a JPEG cut short is then not found."""
    import io

    import cv2
    import numpy as np
    from PIL import Image
    path = Path(path)
    if not path.is_file():
        return ImageProbe(str(path), error='missing')
    if path.stat().st_size == 0:
        return ImageProbe(str(path), error='empty')
    source = io.BytesIO(path.read_bytes()) if full else path
    try:
        if not full:
            with Image.open(source) as pil:
                pil.verify()  # the structure (must come first after opening)
        with Image.open(source) as pil:
            width, height, kind = pil.width, pil.height, pil.format
            orientation = int(pil.getexif().get(EXIF_ORIENTATION, 1) or 1)
    except Exception as e:  # Pillow raises OSError, SyntaxError, ValueError, ...
        if not full:
            return ImageProbe(str(path), error='undecodable', detail=str(e))
        width = height = 0
        kind, orientation = None, 1
    if not full:
        turned = kind == 'JPEG' and orientation in SWAPPING
        return ImageProbe(str(path), width if turned else height, height if turned else width,
                          turned, orientation=orientation)
    raw = source.getvalue()
    img = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        return ImageProbe(str(path), error='undecodable', detail='OpenCV cannot decode it')
    try:
        with Image.open(io.BytesIO(raw)) as pil:
            pil.load()  # reads to the end: a truncated file raises here
    except Exception as e:  # noqa: BLE001 - OpenCV decoded it: only a cut-off file counts
        if _truncation(e):
            return ImageProbe(str(path), error='truncated', detail=str(e))
    h, w = (int(v) for v in img.shape[:2])
    rotated = bool(height) and (h, w) == (width, height) and h != w
    return ImageProbe(str(path), h, w, rotated, orientation=orientation)


def probe_images(paths: Iterable[str | Path], workers: int | None = None, full: bool = True
                 ) -> list[ImageProbe]:
    """:func:`probe_image` of every path, in order; decoding runs in ``workers`` threads
    (default: one per core; OpenCV and Pillow release the GIL while decoding)."""
    import os
    paths: Sequence = list(paths)
    workers = workers or min(8, os.cpu_count() or 1)
    if workers <= 1 or len(paths) < 8:
        return [probe_image(p, full) for p in paths]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda p: probe_image(p, full), paths))
