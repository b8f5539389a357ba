"""Params/GMACs of the variants through mmengine's complexity analysis."""
import subprocess
import sys
from pathlib import Path

import pytest

from trtvit_dense.models import TRTViT
from trtvit_dense.models.complexity import (backbone_complexity, format_variant_table,
                                            variant_table)

ROOT = Path(__file__).parents[2]
# GMACs @224x224 of the foundation issue's variant table.
TABLE_GMACS = {'a': 3.2, 'b': 4.7, 'c': 5.9, 'd': 8.8}


@pytest.mark.slow
@pytest.mark.parametrize('arch', sorted(TABLE_GMACS))
def test_gmacs_match_table(arch):
    result = backbone_complexity(TRTViT(arch), (224, 224))
    assert result['gmacs'] == pytest.approx(TABLE_GMACS[arch], rel=0.05)
    assert result['params'] == sum(p.numel() for p in TRTViT(arch).parameters())


def test_gmacs_scale_with_input_and_include_attention():
    model = TRTViT('a')
    small = backbone_complexity(model, (64, 64))
    big = backbone_complexity(model, (128, 128))
    # Convolutions scale with pixels (x4); attention with pixels squared, so a little more.
    assert 4.0 < big['gmacs'] / small['gmacs'] < 4.2
    assert big['out_shapes'] == [(1, 256, 32, 32), (1, 512, 16, 16), (1, 1024, 8, 8),
                                 (1, 1536, 4, 4)]


def test_variant_table_format():
    rows = variant_table(['a'], [(64, 96)])
    table = format_variant_table(rows)
    lines = table.splitlines()
    assert lines[0].startswith('| arch | params (M) | GMACs @64x96 |')
    assert lines[2].startswith('| TRT-ViT-A | 25.00 |')
    assert '256x16x24 512x8x12 1024x4x6 1536x2x3' in lines[2]


def test_variants_tool_rejects_bad_size():
    proc = subprocess.run([sys.executable, 'tools/analysis/variants.py', '--sizes', '16x16'],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "size '16x16' is below the 32x32 minimum" in proc.stderr
