"""Verification of a deployed model against the PyTorch model on the same inputs.

For every verification shape of the deploy config the same batch of real images,
resized to that network-input shape and normalised like the model's data
preprocessor, goes through the PyTorch export wrapper (eager) and the backend:

* detection: >= 99% of the PyTorch boxes (padded rows excluded) must have a backend
  box with the same label and IoU > 0.99; masks of matched boxes are dense tensors;
* segmentation: >= 99.9% identical pixel labels;
* dense tensors (masks, logits): max abs error <= 1e-3 of the reference's scale
  (its max abs value).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from ..utils.markdown import markdown_table
from .backends import Backend
from .config import format_shape

__all__ = ['Tolerances', 'VerifyRow', 'compare_detections', 'compare_segmentation',
           'make_inputs', 'normalization', 'folder_images', 'load_images', 'verify_backend',
           'format_table']

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp')


@dataclass(frozen=True)
class Tolerances:
    box_match: float = 0.99      # fraction of reference boxes matched
    box_iou: float = 0.99        # IoU a match needs (same label too)
    pixel_agree: float = 0.999   # fraction of identical segmentation labels
    dense_rel: float = 1e-3      # max abs error / reference scale


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


def folder_images(folder: str | Path) -> list[Path]:
    """The image files (:data:`IMAGE_EXTS`) directly in ``folder``, sorted."""
    return sorted(f for f in Path(folder).iterdir()
                  if f.is_file() and f.suffix.lower() in IMAGE_EXTS)


def normalization(cfg) -> tuple[Sequence[float], Sequence[float], bool]:
    """(mean, std, bgr_to_rgb) of the config's data preprocessor, the normalisation
    arguments of :func:`make_inputs` (identity where the config sets none)."""
    pre = cfg.model.get('data_preprocessor') or {}
    return pre.get('mean', (0, 0, 0)), pre.get('std', (1, 1, 1)), pre.get('bgr_to_rgb', False)


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


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of [N, 4] and [M, 4] boxes."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(-1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(-1)
    union = area_a[:, None] + area_b[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12),
                    (np.abs(a[:, None] - b[None]).max(-1) == 0).astype(float))


def _rel_err(ref: np.ndarray, out: np.ndarray) -> float:
    if ref.size == 0:
        return 0.0
    scale = max(float(np.abs(ref).max()), 1e-6)
    return float(np.abs(ref.astype(np.float64) - out).max() / scale)


def compare_detections(ref: dict, out: dict, tol: Tolerances = Tolerances()) -> dict:
    """Greedy matching of the reference's valid boxes to the backend's, per image."""
    matched = total = 0
    mask_errs = []
    extra = 0
    for i in range(ref['labels'].shape[0]):
        rv = ref['labels'][i] >= 0
        ov = out['labels'][i] >= 0
        extra += abs(int(ov.sum()) - int(rv.sum()))
        r_boxes, o_boxes = ref['dets'][i, rv, :4], out['dets'][i, ov, :4]
        r_lab, o_lab = ref['labels'][i, rv], out['labels'][i, ov]
        r_scores = ref['dets'][i, rv, 4]
        if 'masks' in ref:
            r_masks, o_masks = ref['masks'][i, rv], out['masks'][i, ov]
        total += len(r_boxes)
        if not len(r_boxes) or not len(o_boxes):
            continue
        iou = _iou(r_boxes, o_boxes)
        iou[r_lab[:, None] != o_lab[None, :]] = -1
        used = np.zeros(len(o_boxes), bool)
        for j in np.argsort(-r_scores, kind='stable'):
            cand = np.where(~used & (iou[j] > tol.box_iou))[0]
            if len(cand):
                k = cand[np.argmax(iou[j, cand])]
                used[k] = True
                matched += 1
                if 'masks' in ref:
                    mask_errs.append(np.abs(r_masks[j].astype(np.float64)
                                            - o_masks[k]).max())
    metrics = dict(ref_boxes=total, matched=matched,
                   match_ratio=matched / total if total else 1.0, count_diff=extra)
    if 'masks' in ref:
        # mask probabilities lie in [0, 1]: their scale is 1
        metrics['mask_max_err'] = float(max(mask_errs)) if mask_errs else 0.0
    return metrics


def compare_segmentation(ref: dict, out: dict, tol: Tolerances = Tolerances()) -> dict:
    agree = float((ref['seg_labels'] == out['seg_labels']).mean())
    metrics = dict(pixel_agree=agree)
    if 'seg_logits' in ref and 'seg_logits' in out:
        metrics['logits_rel_err'] = _rel_err(ref['seg_logits'], out['seg_logits'])
    return metrics


def _failures(task: str, m: dict, tol: Tolerances) -> list[str]:
    fails = []
    if task == 'detection':
        if m['match_ratio'] < tol.box_match:
            fails.append(f"{m['matched']}/{m['ref_boxes']} boxes matched "
                         f"(< {tol.box_match:.0%} at IoU > {tol.box_iou})")
        if m.get('mask_max_err', 0) > tol.dense_rel:
            fails.append(f"mask error {m['mask_max_err']:.2e} > {tol.dense_rel}")
    else:
        if m['pixel_agree'] < tol.pixel_agree:
            fails.append(f"{m['pixel_agree']:.4%} identical pixels (< {tol.pixel_agree:.1%})")
        if m.get('logits_rel_err', 0) > tol.dense_rel:
            fails.append(f"logits error {m['logits_rel_err']:.2e} > {tol.dense_rel}")
    return fails


def verify_backend(task: str, reference: Backend, backend: Backend,
                   batches: Sequence[np.ndarray], tol: Tolerances = Tolerances()
                   ) -> list[VerifyRow]:
    """Run ``reference`` (PyTorch) and ``backend`` on each input batch and compare."""
    compare = compare_detections if task == 'detection' else compare_segmentation
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
        metrics = compare(ref, out, tol)
        fails = _failures(task, metrics, tol)
        rows.append(VerifyRow(shape=tuple(x.shape), metrics=metrics, passed=not fails,
                              torch_s=t1 - t0, backend_s=t2 - t1, failures=fails))
    return rows


def format_table(task: str, rows: Sequence[VerifyRow], backend: str) -> str:
    """A Markdown table, one row per verification shape."""
    if task == 'detection':
        head = ['shape', 'boxes', 'matched', 'match', 'mask err']
        cells = [[format_shape(r.shape), str(r.metrics['ref_boxes']),
                  str(r.metrics['matched']), f"{r.metrics['match_ratio']:.2%}",
                  f"{r.metrics['mask_max_err']:.1e}" if 'mask_max_err' in r.metrics
                  else '-'] for r in rows]
    else:
        head = ['shape', 'identical px', 'logits err']
        cells = [[format_shape(r.shape), f"{r.metrics['pixel_agree']:.4%}",
                  f"{r.metrics['logits_rel_err']:.1e}" if 'logits_rel_err' in r.metrics
                  else '-'] for r in rows]
    head += ['pytorch s', f'{backend} s', 'result']
    for r, c in zip(rows, cells):
        c += [f'{r.torch_s:.2f}', f'{r.backend_s:.2f}',
              'PASS' if r.passed else 'FAIL: ' + '; '.join(r.failures)]
    return markdown_table(head, cells)
