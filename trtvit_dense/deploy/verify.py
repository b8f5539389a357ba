"""Verification of a deployed model against the PyTorch model on the same inputs.

For every verification shape of the deploy config the same batch of real images,
resized to that network-input shape and normalised like the model's data
preprocessor, goes through the PyTorch export wrapper (eager) and the backend:

* detection: >= 99% of the PyTorch boxes (padded rows excluded) must have a backend
  box with the same label and IoU > 0.99, or be explained by a score tie (below);
  masks of matched boxes are dense tensors;
* segmentation: >= 99.9% identical pixel labels;
* classification: >= 99.9% of the images with the same top-1 class (or a score tie,
  below) and every score (softmax probability) within 1e-3 of PyTorch's;
* dense tensors (masks, logits): max abs error <= 1e-3 of the reference's scale
  (its max abs value).

Score ties. fp32 noise (~1e-8 on scores) legitimately flips the NMS or top-k decision
between two near-equal candidates, so a correct graph can keep a different box than
PyTorch. An unmatched PyTorch box counts as an explained tie, not a mismatch, when the
backend kept instead an unmatched box of the same image and label whose score is within
``score_tie`` (1e-5) of it and which overlaps it at IoU > ``tie_iou`` (0.5, the NMS
threshold of mmdet's RetinaNet and Mask R-CNN test configs: the two would suppress each
other), or when the backend's output is full (``max_per_img`` boxes) and the box's score
is within ``score_tie`` of the lowest score the backend kept (a tie at the cut-off).
Ties are rare by nature, so they explain at most ``tie_share`` (10%) of a shape's boxes:
a graph whose boxes all moved (perturbed deltas, a wrong resize) keeps every score and
would otherwise pass as all ties; a swapped label is never a tie. Ties are counted and
shown in the verification table.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from ..datasets.images import IMAGE_EXTS, folder_images
from ..tasks import get_task
from ..utils.markdown import markdown_table
from .backends import Backend
from .config import format_shape

__all__ = ['Tolerances', 'VerifyRow', 'make_inputs', 'normalization', 'load_images', 'verify_backend',
           'format_table']

@dataclass(frozen=True)
class Tolerances:
    box_match: float = 0.99      # fraction of reference boxes matched (ties included)
    box_iou: float = 0.99        # IoU a match needs (same label too)
    pixel_agree: float = 0.999   # fraction of identical segmentation labels
    dense_rel: float = 1e-3      # max abs error / reference scale
    score_tie: float = 1e-5      # score difference that is fp32 noise (ties, see above)
    tie_iou: float = 0.5         # overlap at which NMS lets only one of two boxes survive
    tie_share: float = 0.1       # the most of a shape's boxes that ties may explain
    top1_agree: float = 0.999    # fraction of images with the same top-1 class
    score_abs: float = 1e-3      # max abs error of a class probability


@dataclass
class VerifyRow:
    shape: tuple[int, ...]
    metrics: dict = field(default_factory=dict)
    passed: bool = False
    torch_s: float = 0.0
    backend_s: float = 0.0
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        d['shape'] = format_shape(self.shape)
        return d


def normalization(cfg) -> tuple[Sequence[float], Sequence[float], bool]:
    """(mean, std, bgr_to_rgb) of the config's data preprocessor, the normalisation
    arguments of :func:`make_inputs` (identity where the config sets none)."""
    pre = cfg.model.get('data_preprocessor') or {}
    # mmdet/mmseg call it bgr_to_rgb, mmpretrain to_rgb
    return (pre.get('mean', (0, 0, 0)), pre.get('std', (1, 1, 1)),
            pre.get('bgr_to_rgb', pre.get('to_rgb', False)))


def load_images(paths: Sequence[str | Path]) -> list[np.ndarray]:
    """Read BGR images (files, or folders of images); an unreadable file is an error."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += folder_images(p)
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f'image path not found: {p}')
    if not files:
        raise FileNotFoundError(f'no images ({", ".join(IMAGE_EXTS)}) in {list(paths)}')
    images = []
    for f in files:
        img = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f'cannot decode image {f}')
        images.append(img)
    return images


def make_inputs(images: Sequence[np.ndarray], shape: Sequence[int], mean: Sequence[float],
                std: Sequence[float], bgr_to_rgb: bool, offset: int = 0) -> np.ndarray:
    """A [B, 3, H, W] float32 batch: images ``offset..offset+B`` (cycling) resized to
    H x W and normalised like the data preprocessor (BGR->RGB, mean, std)."""
    b, _, h, w = shape
    batch = []
    for i in range(b):
        img = images[(offset + i) % len(images)]
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        if bgr_to_rgb:
            img = img[..., ::-1]
        img = (img - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
        batch.append(img.transpose(2, 0, 1))
    return np.ascontiguousarray(np.stack(batch), dtype=np.float32)


def verify_backend(task: str, reference: Backend, backend: Backend,
                   batches: Sequence[np.ndarray], tol: Tolerances = Tolerances()
                   ) -> list[VerifyRow]:
    """Run ``reference`` (PyTorch) and ``backend`` on each input batch and compare."""
    hooks = get_task(task).deploy
    rows = []
    for x in batches:
        t0 = time.perf_counter()
        ref = reference(x)
        t1 = time.perf_counter()
        out = backend(x)
        t2 = time.perf_counter()
        missing = set(ref) - set(out)
        if missing:
            raise ValueError(f'{backend.name} outputs lack {sorted(missing)}')
        metrics = hooks.compare(ref, out, tol)
        fails = hooks.failures(metrics, tol)
        rows.append(VerifyRow(shape=tuple(x.shape), metrics=metrics, passed=not fails,
                              torch_s=t1 - t0, backend_s=t2 - t1, failures=fails))
    return rows


def format_table(task: str, rows: Sequence[VerifyRow], backend: str) -> str:
    """A Markdown table, one row per verification shape."""
    head, cells = get_task(task).deploy.table(rows)
    head += ['pytorch s', f'{backend} s', 'result']
    for r, c in zip(rows, cells):
        c += [f'{r.torch_s:.2f}', f'{r.backend_s:.2f}',
              'PASS' if r.passed else 'FAIL: ' + '; '.join(r.failures)]
    return markdown_table(head, cells)
