"""Backbone comparison: every backbone of the registry (:mod:`trtvit_dense.models.zoo`:
TRT-ViT a-d, Next-ViT s/b/l) against the ResNet-50 baseline under the same
detector/segmentor/classifier, backend and precision (``tools/benchmark.py --compare``)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..config import package_config
from ..deploy.precision import precision_label
from ..models import zoo
from ..utils.markdown import markdown_table
from .plan import ModelSpec
from .report import primary_metric

__all__ = ['FAMILIES', 'BACKBONES', 'BASELINE', 'compare_specs', 'compare_table']

# family -> shipped config pattern ({} is the backbone tag), from the registry
FAMILIES = {name: f.config for name, f in zoo.FAMILIES.items()}
# the backbones --compare times: every one with configs beside the baseline's
BACKBONES = tuple(b for b in zoo.BACKBONES if b != 'r50-v1c')
BASELINE = zoo.BASELINE


def compare_specs(family: str, backbones: Sequence[str] = BACKBONES,
                  checkpoint_dir: str | Path | None = None) -> list[ModelSpec]:
    """One spec per backbone of ``family``: the checkpoint ``<config stem>.pth`` from
    ``checkpoint_dir`` when it exists, else seeded random weights (latency only)."""
    if family not in FAMILIES:
        raise ValueError(f'--compare takes one of {sorted(FAMILIES)}, got {family!r}')
    bad = [b for b in backbones if b not in BACKBONES]
    if bad:
        raise ValueError(f'unknown backbones {bad}; choose from {BACKBONES}')
    if BASELINE not in backbones:
        backbones = (*backbones, BASELINE)
    shipped = zoo.backbones_of(family)
    specs = []
    for tag in (b for b in backbones if b in shipped):  # the backbones with a config
        config = Path(package_config(zoo.family_config(family, tag)))
        ckpt = Path(checkpoint_dir) / f'{config.stem}.pth' if checkpoint_dir else None
        specs.append(ModelSpec(str(config), str(ckpt) if ckpt and ckpt.is_file() else None))
    return specs


def compare_table(rows: Sequence[dict]) -> str:
    """Markdown: per task, backend and precision, each TRT-ViT row's latency ratio to
    the R50 row of the same family (end to end and compute, mean at the opt shape;
    < 1 is faster) next to its accuracy difference in points. Groups without an R50
    row are named below the table."""
    head = ['task', 'backend', 'prec', 'backbone', 'e2e ms', 'R50 e2e ms', 'e2e ratio',
            'compute ratio', 'metric', 'accuracy', 'R50 accuracy', 'difference', 'weights']
    table, missing = [], []
    groups: dict = {}
    for r in rows:
        groups.setdefault((_family(r), r['backend'],
                           precision_label(r['precision'], r.get('quantizer'))), []).append(r)
    for (family, backend, prec), group in groups.items():
        base = next((r for r in group if _is_baseline(r, family)), None)
        if base is None:
            missing.append(f'{family} {backend} {prec}')
            continue
        for r in group:
            if r is base:
                continue
            metric, acc = primary_metric(r)
            _, base_acc = primary_metric(base)
            diff = acc - base_acc if acc is not None and base_acc is not None else None
            cells = [family, backend, prec, r['backbone'], f"{r['e2e_opt']['mean_ms']:.0f}",
                     f"{base['e2e_opt']['mean_ms']:.0f}",
                     f"{r['e2e_opt']['mean_ms'] / base['e2e_opt']['mean_ms']:.2f}",
                     f"{r['compute_opt']['mean_ms'] / base['compute_opt']['mean_ms']:.2f}",
                     metric, '-' if acc is None else f'{acc:.1f}',
                     '-' if base_acc is None else f'{base_acc:.1f}',
                     '-' if diff is None else f'{diff:+.1f}', r['weights']]
            table.append(cells)
    text = markdown_table(head, table)
    if missing:
        text += f'\n\nNo {BASELINE.upper()} row to compare with for: ' + ', '.join(missing)
    return text


# the baseline's backbone as rows name it: mmdet's ResNet-50, mmseg's ResNetV1c-50
BASELINE_BACKBONES = ('ResNet50', 'ResNetV1c50')


def _is_baseline(row: dict, family: str) -> bool:
    """The row runs the family's ResNet-50 config, or another config of the family with
    a ResNet-50 backbone (the toy configs)."""
    pattern = FAMILIES.get(family)
    if pattern is not None and Path(row['config']).stem == Path(pattern.format(BASELINE)).stem:
        return True
    return row.get('backbone') in BASELINE_BACKBONES


def _family(row: dict) -> str:
    """The family of a row's config: by the pattern's text before the backbone tag
    (``mask-rcnn_``), or after it when nothing comes before (``_8xb128_in1k``); any other
    classifier (the toy ones) compares as 'imagenet'."""
    stem = Path(row['config']).stem
    for family, entry in zoo.FAMILIES.items():  # the compare command's <prefix>_<backbone>
        if stem.startswith(f'{entry.prefix}_') and stem.count('_') == 1:
            return family
    for family, pattern in FAMILIES.items():
        before, after = Path(pattern).stem.split('{}')
        if (before and stem.startswith(before)) or (not before and stem.endswith(after)):
            return family
    return 'imagenet' if row.get('task') == 'classification' else stem
