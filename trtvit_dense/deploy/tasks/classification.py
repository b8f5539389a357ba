"""The image classification task's deploy side (mmpretrain ImageClassifier): see the
package."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
from torch import nn

from ..config import DeployConfig, format_shape
from ..rewrite.classification import ExportableClassifier, postprocess_classification

if TYPE_CHECKING:
    from ..verify import Tolerances, VerifyRow

__all__ = ['build_exportable', 'head_config', 'attach_predictions', 'compare', 'failures',
           'table', 'describe_tolerances']


def build_exportable(model: nn.Module, deploy_cfg: DeployConfig) -> nn.Module:
    return ExportableClassifier(model)


def head_config(model_cfg: dict) -> dict:
    return model_cfg.get('head', {})


def attach_predictions(outputs: dict, data_samples: list, model_cfg: dict) -> list:
    """Set ``pred_score`` and ``pred_label`` on ``data_samples``, in place."""
    return list(postprocess_classification(outputs, data_samples))


def compare(ref: dict, out: dict, tol: 'Tolerances') -> dict:
    """Top-1 agreement per image and the largest score difference.

    An image whose top-1 differs counts as a tie, not a mismatch, when PyTorch's two best
    scores are within ``tol.score_tie`` of each other and the backend picked the other
    one (fp32 noise decides between equals); ties are counted."""
    r = np.asarray(ref['scores'], np.float64)
    o = np.asarray(out['scores'], np.float64)
    if r.shape != o.shape:
        return dict(images=len(r), top1_agree=0.0, ties=0, score_err=float('inf'))
    ref_top, out_top = r.argmax(1), o.argmax(1)
    differ = ref_top != out_top
    rows = np.arange(len(r))
    ties = int((differ & (np.abs(r[rows, ref_top] - r[rows, out_top]) <= tol.score_tie)).sum())
    agree = float((len(r) - int(differ.sum()) + ties) / max(len(r), 1))
    return dict(images=len(r), top1_agree=agree, ties=ties,
                score_err=float(np.abs(r - o).max()) if r.size else 0.0)


def failures(m: dict, tol: 'Tolerances') -> list[str]:
    fails = []
    if m['top1_agree'] < tol.top1_agree:
        fails.append(f"{m['top1_agree']:.2%} identical top-1 of {m['images']} images "
                     f'(< {tol.top1_agree:.1%})')
    if m['score_err'] > tol.score_abs:
        fails.append(f"score error {m['score_err']:.2e} > {tol.score_abs}")
    return fails


def table(rows: Sequence['VerifyRow']) -> tuple[list[str], list[list[str]]]:
    head = ['shape', 'identical top-1', 'ties', 'score err']
    cells = [[format_shape(r.shape), f"{r.metrics['top1_agree']:.2%}", str(r.metrics['ties']),
              f"{r.metrics['score_err']:.1e}"] for r in rows]
    return head, cells


def describe_tolerances(tol: 'Tolerances') -> str:
    return (f'>= {tol.top1_agree:.0%} identical top-1, scores within {tol.score_abs} '
            '(fp32: 99.9%, 1e-3)')
