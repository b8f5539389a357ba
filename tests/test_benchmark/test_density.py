"""Density analysis items: stage resolutions, block FLOPs, skipped attention."""
import pytest
import torch

from trtvit_dense.benchmark.density import _feature_sizes, density_items
from trtvit_dense.models.backbones import TRTViT
from trtvit_dense.models.backbones.trt_vit import switch_to_deploy
from trtvit_dense.models.complexity import count_gmacs


@pytest.mark.parametrize('hw', [(224, 224), (225, 333), (64, 96), (97, 65)])
def test_feature_sizes_match_the_backbone(hw):
    with torch.no_grad():
        outs = TRTViT('a').eval()(torch.zeros(1, 3, *hw))
    assert _feature_sizes(*hw) == [tuple(o.shape[2:]) for o in outs]


def test_items_use_stage_widths_and_resolutions():
    items = density_items('a', (224, 224))
    by_name = {(name, stage): shape for name, stage, _, shape, _ in items}
    assert by_name[('BottleNeck', 1)] == (1, 256, 56, 56)
    assert by_name[('Transformer', 3)] == (1, 1024, 14, 14)
    assert by_name[('MixBlockC', 4)] == (1, 1536, 7, 7)
    assert by_name[('stage1', 1)] == (1, 64, 56, 56)     # the stem's output
    assert by_name[('stage4', 4)] == (1, 1024, 14, 14)   # stage 3's output
    assert by_name[('backbone', None)] == (1, 3, 224, 224)
    assert all(module is not None and skip is None for _, _, module, _, skip in items)


def test_huge_attention_is_skipped_with_its_memory():
    items = density_items('a', (800, 1344), max_attention_gib=2.0)
    skipped = {(name, stage): skip for name, stage, _, _, skip in items if skip}
    # 200x336 tokens at stride 4: 8 heads x 67200^2 floats
    assert ('Transformer', 1) in skipped and 'GiB' in skipped[('Transformer', 1)]
    assert ('Transformer', 4) not in skipped and ('BottleNeck', 1) not in skipped


def test_bottleneck_macs_are_the_convolutions():
    """In deploy form (BN folded, as measured) a BottleNeck's MACs are its convs'."""
    c, h, w = 256, 14, 10
    _, _, module, shape, _ = next(i for i in density_items('a', (56 * 4, 40 * 4))
                                  if i[0] == 'BottleNeck' and i[1] == 3)
    mid = 1024 // 4
    expected = h * w * (1024 * mid + 9 * mid * mid + mid * 1024) / 1e9
    assert shape == (1, 1024, h, w) and c == mid
    gmacs = count_gmacs(switch_to_deploy(module.eval()), shape)
    assert gmacs == pytest.approx(expected, rel=1e-9)
