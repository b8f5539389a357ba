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

# what mmcv decodes and the tools accept (OpenCV's and Pillow's common formats)
IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def is_image_file(path: str | Path) -> bool:
    """Whether ``path`` names an image by its extension (:data:`IMAGE_EXTS`, any case)."""
    return Path(path).suffix.lower() in IMAGE_EXTS


def folder_images(folder: str | Path) -> list[Path]:
    """The image files (:data:`IMAGE_EXTS`) directly in ``folder``, sorted by name."""
    return sorted(f for f in Path(folder).iterdir() if f.is_file() and is_image_file(f))


@dataclass(frozen=True)
class ImageProbe:
    """What decoding a file found: its size as mmcv decodes it (``height``, ``width``,
    after the EXIF turn), whether ``rotated`` by EXIF, or ``error`` (then sizes are 0):
    ``'missing'``, ``'empty'`` (zero bytes), ``'undecodable'`` or ``'truncated'``."""
    path: str
    height: int = 0
    width: int = 0
    rotated: bool = False
    error: str | None = None
    detail: str = ''


def probe_image(path: str | Path) -> ImageProbe:
    """Decode ``path`` as mmcv's ``imfrombytes(flag='color')`` does (see the module)."""
    import cv2
    import numpy as np
    from PIL import Image
    path = Path(path)
    if not path.is_file():
        return ImageProbe(str(path), error='missing')
    raw = path.read_bytes()
    if not raw:
        return ImageProbe(str(path), error='empty')
    img = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        return ImageProbe(str(path), error='undecodable', detail='OpenCV cannot decode it')
    plain = cv2.imdecode(np.frombuffer(raw, np.uint8),
                         cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    try:
        import io
        with Image.open(io.BytesIO(raw)) as pil:
            pil.load()  # reads to the end: a truncated file raises here
    except Exception as e:  # Pillow raises OSError, SyntaxError, ValueError, ...
        text = str(e)
        kind = 'truncated' if 'truncated' in text or 'broken data' in text else 'undecodable'
        return ImageProbe(str(path), error=kind, detail=text)
    rotated = plain is not None and plain.shape[:2] != img.shape[:2]
    return ImageProbe(str(path), int(img.shape[0]), int(img.shape[1]), rotated)


def probe_images(paths: Iterable[str | Path], workers: int | None = None
                 ) -> list[ImageProbe]:
    """:func:`probe_image` of every path, in order; decoding runs in ``workers`` threads
    (default: one per core; OpenCV and Pillow release the GIL while decoding)."""
    import os
    paths: Sequence = list(paths)
    workers = workers or min(8, os.cpu_count() or 1)
    if workers <= 1 or len(paths) < 8:
        return [probe_image(p) for p in paths]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(probe_image, paths))
