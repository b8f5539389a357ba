"""The detection task's deploy side (RetinaNet, Faster/Mask R-CNN): see the package."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
from torch import nn

from ..config import DeployConfig, format_shape
from ..rewrite.detection import ExportableDetector, postprocess_detection

if TYPE_CHECKING:
    from ..verify import Tolerances, VerifyRow

__all__ = ['build_exportable', 'head_config', 'mask_threshold', 'attach_predictions',
           'compare', 'failures', 'table', 'describe_tolerances']


def build_exportable(model: nn.Module, deploy_cfg: DeployConfig) -> nn.Module:
    return ExportableDetector(model, pre_top_k=deploy_cfg.post_processing['pre_top_k'])


def head_config(model_cfg: dict) -> dict:
    return model_cfg.get('bbox_head') or model_cfg.get('roi_head', {}).get('bbox_head', {})


def mask_threshold(model_cfg: dict) -> float:
    """``model.test_cfg.rcnn.mask_thr_binary`` of a model config (mmdet's default 0.5)."""
    rcnn = (model_cfg.get('test_cfg') or {}).get('rcnn') or {}
    return float(rcnn.get('mask_thr_binary', 0.5))


def attach_predictions(outputs: dict, data_samples: list, model_cfg: dict) -> list:
    """Set ``pred_instances`` (boxes rescaled to the original image, masks pasted and
    binarised at the config's ``mask_thr_binary``) on ``data_samples``, in place."""
    metas = [s.metainfo for s in data_samples]
    for sample, inst in zip(data_samples, postprocess_detection(
            outputs, metas, mask_thr_binary=mask_threshold(model_cfg))):
        sample.pred_instances = inst
    return data_samples


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


def compare(ref: dict, out: dict, tol: 'Tolerances') -> dict:
    """Greedy matching of the reference's valid boxes to the backend's, per image; the
    unmatched ones that are score ties (:mod:`..verify`) are counted as ``ties``."""
    matched = total = ties = 0
    mask_errs = []
    extra = 0
    for i in range(ref['labels'].shape[0]):
        rv = ref['labels'][i] >= 0
        ov = out['labels'][i] >= 0
        extra += abs(int(ov.sum()) - int(rv.sum()))
        r_boxes, o_boxes = ref['dets'][i, rv, :4], out['dets'][i, ov, :4]
        r_lab, o_lab = ref['labels'][i, rv], out['labels'][i, ov]
        r_scores, o_scores = ref['dets'][i, rv, 4], out['dets'][i, ov, 4]
        if 'masks' in ref:
            r_masks, o_masks = ref['masks'][i, rv], out['masks'][i, ov]
        total += len(r_boxes)
        if not len(r_boxes) or not len(o_boxes):
            continue
        overlap = _iou(r_boxes, o_boxes)
        same_label = r_lab[:, None] == o_lab[None, :]
        iou = np.where(same_label, overlap, -1)
        used = np.zeros(len(o_boxes), bool)
        unmatched = []
        for j in np.argsort(-r_scores, kind='stable'):
            cand = np.where(~used & (iou[j] > tol.box_iou))[0]
            if len(cand):
                k = cand[np.argmax(iou[j, cand])]
                used[k] = True
                matched += 1
                if 'masks' in ref:
                    mask_errs.append(np.abs(r_masks[j].astype(np.float64)
                                            - o_masks[k]).max())
            else:
                unmatched.append(j)
        full = len(o_boxes) == out['labels'].shape[1]  # the max_per_img cut-off was hit
        floor = float(o_scores.min())
        for j in unmatched:
            near = np.abs(o_scores.astype(np.float64) - float(r_scores[j])) <= tol.score_tie
            rival = np.where(~used & same_label[j] & near & (overlap[j] > tol.tie_iou))[0]
            if len(rival):  # the backend kept a near-equal neighbour instead (NMS)
                used[rival[np.argmax(overlap[j, rival])]] = True
                ties += 1
            elif full and float(r_scores[j]) <= floor + tol.score_tie:  # top-k cut-off
                ties += 1
    credited = ties if ties <= tol.tie_share * total else 0  # too many to be noise
    metrics = dict(ref_boxes=total, matched=matched, ties=ties, ties_credited=credited,
                   match_ratio=matched / total if total else 1.0,
                   explained_ratio=(matched + credited) / total if total else 1.0,
                   count_diff=extra)
    if 'masks' in ref:
        # mask probabilities lie in [0, 1]: their scale is 1
        metrics['mask_max_err'] = float(max(mask_errs)) if mask_errs else 0.0
    return metrics


def failures(m: dict, tol: 'Tolerances') -> list[str]:
    fails = []
    if m['explained_ratio'] < tol.box_match:
        ties = f" + {m['ties_credited']} score ties" if m['ties_credited'] else ''
        fails.append(f"{m['matched']}{ties} of {m['ref_boxes']} boxes matched "
                     f"(< {tol.box_match:.0%} at IoU > {tol.box_iou})")
        if m['ties'] > m['ties_credited']:
            fails.append(f"{m['ties']} unmatched boxes look like score ties, more than the "
                         f"{tol.tie_share:.0%} that fp32 noise explains")
    if m.get('mask_max_err', 0) > tol.dense_rel:
        fails.append(f"mask error {m['mask_max_err']:.2e} > {tol.dense_rel}")
    return fails


def table(rows: Sequence['VerifyRow']) -> tuple[list[str], list[list[str]]]:
    head = ['shape', 'boxes', 'matched', 'ties', 'match', 'mask err']
    cells = [[format_shape(r.shape), str(r.metrics['ref_boxes']),
              str(r.metrics['matched']), str(r.metrics.get('ties_credited', 0)),
              f"{r.metrics.get('explained_ratio', r.metrics['match_ratio']):.2%}",
              f"{r.metrics['mask_max_err']:.1e}" if 'mask_max_err' in r.metrics
              else '-'] for r in rows]
    return head, cells


def describe_tolerances(tol: 'Tolerances') -> str:
    dense = (f'dense error <= {tol.dense_rel} of the scale' if tol.dense_rel < 1
             else 'mask errors reported, not checked')
    return (f'>= {tol.box_match:.0%} of the boxes matched at IoU > {tol.box_iou}, {dense} '
            '(fp32: 99% at IoU > 0.99, 1e-3)')
