"""The semantic segmentation task's deploy side (mmseg EncoderDecoder): see the package."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
from torch import nn

from ..config import DeployConfig, format_shape
from ..rewrite.segmentation import ExportableSegmentor, postprocess_segmentation

if TYPE_CHECKING:
    from ..verify import Tolerances, VerifyRow

__all__ = ['build_exportable', 'head_config', 'attach_predictions', 'compare', 'failures',
           'table', 'describe_tolerances']


def build_exportable(model: nn.Module, deploy_cfg: DeployConfig) -> nn.Module:
    return ExportableSegmentor(model, with_logits=bool(
        deploy_cfg.onnx_config.get('with_logits', False)))


def head_config(model_cfg: dict) -> dict:
    return model_cfg.get('decode_head', {})


def attach_predictions(outputs: dict, data_samples: list, model_cfg: dict) -> list:
    """Set ``pred_sem_seg`` (resized to the original image) and, where the graph has
    them, ``seg_logits`` on ``data_samples``, in place."""
    metas = [s.metainfo for s in data_samples]
    for sample, pred in zip(data_samples, postprocess_segmentation(outputs, metas)):
        sample.pred_sem_seg = pred.pred_sem_seg
        if 'seg_logits' in pred:
            sample.seg_logits = pred.seg_logits
    return data_samples


def rel_err(ref: np.ndarray, out: np.ndarray) -> float:
    if ref.size == 0:
        return 0.0
    scale = max(float(np.abs(ref).max()), 1e-6)
    return float(np.abs(ref.astype(np.float64) - out).max() / scale)


def compare(ref: dict, out: dict, tol: 'Tolerances') -> dict:
    agree = float((ref['seg_labels'] == out['seg_labels']).mean())
    metrics = dict(pixel_agree=agree)
    if 'seg_logits' in ref and 'seg_logits' in out:
        metrics['logits_rel_err'] = rel_err(ref['seg_logits'], out['seg_logits'])
    return metrics


def failures(m: dict, tol: 'Tolerances') -> list[str]:
    fails = []
    if m['pixel_agree'] < tol.pixel_agree:
        fails.append(f"{m['pixel_agree']:.4%} identical pixels (< {tol.pixel_agree:.1%})")
    if m.get('logits_rel_err', 0) > tol.dense_rel:
        fails.append(f"logits error {m['logits_rel_err']:.2e} > {tol.dense_rel}")
    return fails


def table(rows: Sequence['VerifyRow']) -> tuple[list[str], list[list[str]]]:
    head = ['shape', 'identical px', 'logits err']
    cells = [[format_shape(r.shape), f"{r.metrics['pixel_agree']:.4%}",
              f"{r.metrics['logits_rel_err']:.1e}" if 'logits_rel_err' in r.metrics
              else '-'] for r in rows]
    return head, cells


def describe_tolerances(tol: 'Tolerances') -> str:
    dense = (f'logit error <= {tol.dense_rel} of the scale' if tol.dense_rel < 1
             else 'logit errors reported, not checked')
    return f'>= {tol.pixel_agree:.0%} identical pixels, {dense} (fp32: 99.9%, 1e-3)'
