"""Parameter and MAC counts of TRT-ViT variants with mmengine's complexity analysis.

mmengine's ``FlopAnalyzer`` (fvcore's counter) counts one fused multiply-add as one
"flop", so its numbers are MACs; we report them as GMACs. Element-wise ops (softmax,
GELU, additions) are not counted, as in the papers' tables.
"""
from typing import Dict, Iterable, List, Sequence, Tuple

import torch
from mmengine.analysis import get_model_complexity_info

from ..utils.markdown import markdown_table
from .backbones import TRTViT

__all__ = ['backbone_complexity', 'count_gmacs', 'variant_table', 'format_variant_table']


def count_gmacs(module: torch.nn.Module, shape: Sequence[int]) -> float:
    """GMACs of ``module`` on one zero input of ``shape`` (mmengine's FlopAnalyzer,
    without its per-op warnings for the uncounted element-wise ops)."""
    from mmengine.analysis import FlopAnalyzer
    with torch.no_grad():
        analyzer = FlopAnalyzer(module, (torch.zeros(tuple(shape)), ))
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        return analyzer.total() / 1e9


def backbone_complexity(model: torch.nn.Module, input_hw: Tuple[int, int]) -> Dict:
    """Params, GMACs and output shapes of ``model`` for one ``(H, W)`` input."""
    model = model.eval()
    info = get_model_complexity_info(
        model, input_shape=(3, *input_hw), show_table=False, show_arch=False)
    with torch.no_grad():
        outs = model(torch.zeros(1, 3, *input_hw))
    return dict(
        params=info['params'],
        gmacs=info['flops'] / 1e9,
        out_shapes=[tuple(o.shape) for o in outs])


def variant_table(archs: Iterable[str] = ('a', 'b', 'c', 'd'),
                  sizes: Sequence[Tuple[int, int]] = ((224, 224), (800, 1344))) -> List[Dict]:
    """One row per arch: params, GMACs at each size, output shapes at the first size."""
    rows = []
    for arch in archs:
        model = TRTViT(arch)
        row = dict(arch=arch, params_m=None, gmacs={}, out_shapes={})
        for hw in sizes:
            result = backbone_complexity(model, hw)
            row['params_m'] = result['params'] / 1e6
            row['gmacs'][hw] = result['gmacs']
            row['out_shapes'][hw] = result['out_shapes']
        rows.append(row)
    return rows


def format_variant_table(rows: List[Dict]) -> str:
    """Markdown table of :func:`variant_table` rows."""
    sizes = list(rows[0]['gmacs'])
    header = ['arch', 'params (M)'] + [f'GMACs @{h}x{w}' for h, w in sizes]
    header += [f'outputs @{h}x{w} (C,H,W)' for h, w in sizes]
    table = []
    for row in rows:
        cells = [f"TRT-ViT-{row['arch'].upper()}", f"{row['params_m']:.2f}"]
        cells += [f"{row['gmacs'][hw]:.2f}" for hw in sizes]
        cells += [' '.join('x'.join(map(str, s[1:])) for s in row['out_shapes'][hw])
                  for hw in sizes]
        table.append(cells)
    return markdown_table(header, table)
