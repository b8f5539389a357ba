"""Unit and equivalence tests for the TRT-ViT backbone."""
import copy
import math

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from trtvit_dense.models import TRTViT

ARCHS = ['a', 'b', 'c', 'd']
# Table of the foundation issue: approximate backbone parameters (millions).
TABLE_PARAMS_M = {'a': 25, 'b': 45, 'c': 69, 'd': 104}
TABLE_TOLERANCE = 0.05
# Parameters of TRT-ViT-C implied by the paper's downstream tables (Mask R-CNN 86.3M
# total, Semantic FPN 70.6M total): our reconstruction must be within 7% of it.
PAPER_C_PARAMS_M = 65.6


@pytest.fixture(scope='module')
def models():
    """One eval-mode model per arch, built once (d has ~100M parameters)."""
    cache = {}

    def get(arch):
        if arch not in cache:
            torch.manual_seed(0)
            model = TRTViT(arch)
            model.init_weights()
            cache[arch] = model.eval()
        return cache[arch]

    return get


def randomize_norms(model: torch.nn.Module, seed: int = 0) -> None:
    """Give every BatchNorm non-trivial statistics so folding is really exercised."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)


@pytest.mark.parametrize('arch', ARCHS)
@pytest.mark.parametrize('shape', [(1, 224, 224), (1, 112, 137), (1, 511, 513),
                                   (2, 96, 160)])
def test_output_shapes(models, arch, shape):
    batch, h, w = shape
    model = models(arch)
    with torch.no_grad():
        outs = model(torch.randn(batch, 3, h, w))
    assert isinstance(outs, tuple) and len(outs) == 4
    for out, stride, channels in zip(outs, (4, 8, 16, 32), model.out_channels):
        assert out.shape == (batch, channels, math.ceil(h / stride), math.ceil(w / stride))
    assert model.out_channels == tuple(o.shape[1] for o in outs)
    assert model.out_channels == TRTViT.arch_settings[arch]['widths']


@pytest.mark.parametrize('arch', ARCHS)
def test_params_match_table(models, arch):
    params = sum(p.numel() for p in models(arch).parameters()) / 1e6
    assert abs(params - TABLE_PARAMS_M[arch]) <= TABLE_TOLERANCE * TABLE_PARAMS_M[arch]
    if arch == 'c':
        assert abs(params - PAPER_C_PARAMS_M) <= 0.07 * PAPER_C_PARAMS_M


@pytest.mark.parametrize('out_indices,expected', [
    (3, (3, )),
    ((0, 2), (0, 2)),
    ((-1, -4), (3, 0)),
    ([1], (1, )),
])
def test_out_indices(out_indices, expected):
    given = copy.deepcopy(out_indices)
    model = TRTViT('a', out_indices=out_indices).eval()
    assert out_indices == given, 'out_indices must not be mutated'
    assert model.out_indices == expected
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 64))
    widths = TRTViT.arch_settings['a']['widths']
    assert tuple(o.shape[1] for o in outs) == model.out_channels
    assert model.out_channels == tuple(widths[i] for i in sorted(expected))


@pytest.mark.parametrize('kwargs,match', [
    (dict(arch='e'), r"Unknown TRTViT arch 'e'; valid choices: \['a', 'b', 'c', 'd'\]"),
    (dict(arch=3), r'arch must be one of'),
    (dict(arch=dict(stage_blocks=(2, 2, 2, 1), widths=(4, 8, 16, 64))),
     r'needs exactly the keys'),
    (dict(arch=dict(stage_blocks=(2, 2, 1), mix_blocks=1, widths=(4, 8, 16))),
     r'need 4 entries'),
    (dict(out_indices=4), r'out_indices entry 4 is out of range \[-4, 3\]'),
    (dict(out_indices=(0, -5)), r'out_indices entry -5 is out of range'),
    (dict(out_indices=()), r'non-empty sequence'),
    (dict(out_indices=(1, -3)), r'name a stage twice'),
    (dict(frozen_stages=5), r'frozen_stages must be in \[-1, 4\], got 5'),
    (dict(frozen_stages=-2), r'frozen_stages must be in \[-1, 4\], got -2'),
    (dict(head_dim=100), r'multiple of head_dim=100'),
])
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TRTViT(**kwargs)


def test_custom_arch_dict():
    arch = dict(stage_blocks=[1, 1, 1, 1], mix_blocks=1, widths=[32, 64, 128, 128])
    model = TRTViT(arch, head_dim=32).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 65, 33))
    assert [tuple(o.shape) for o in outs] == [(1, 32, 17, 9), (1, 64, 9, 5), (1, 128, 5, 3),
                                             (1, 128, 3, 2)]


@pytest.mark.parametrize('frozen_stages', [-1, 0, 1, 3, 4])
def test_frozen_stages(frozen_stages):
    model = TRTViT('a', frozen_stages=frozen_stages)
    model.train()
    frozen = [] if frozen_stages < 0 else [model.stem, *model.stages[:frozen_stages]]
    trainable = [model.stem] if frozen_stages < 0 else []
    trainable += list(model.stages[max(frozen_stages, 0):])
    for module in frozen:
        assert not module.training
        assert all(not p.requires_grad for p in module.parameters())
        assert all(not m.training for m in module.modules() if isinstance(m, _BatchNorm))
    for module in trainable:
        assert module.training
        assert all(p.requires_grad for p in module.parameters())
    # A second train() (as mmengine does before each epoch) keeps them frozen.
    model.train()
    for module in frozen:
        assert not module.training


def test_norm_eval():
    model = TRTViT('a', norm_eval=True)
    model.train()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    lns = [m for m in model.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert bns and lns
    assert all(not m.training for m in bns)
    assert all(m.training for m in lns)
    assert model.training


def test_with_cp_matches_plain(monkeypatch):
    import trtvit_dense.models.backbones.trt_vit as trt_vit
    calls, original = [], trt_vit.cp.checkpoint

    def counting_checkpoint(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(trt_vit.cp, 'checkpoint', counting_checkpoint)
    torch.manual_seed(0)
    plain = TRTViT('a', with_cp=False)
    plain.init_weights()
    randomize_norms(plain)
    ckpt = copy.deepcopy(plain)
    ckpt.with_cp = True
    plain.train(), ckpt.train()
    x = torch.randn(2, 3, 64, 96)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    outs1 = plain(x1)
    assert not calls
    outs2 = ckpt(x2)
    assert len(calls) == sum(len(stage) for stage in ckpt.stages)
    for o1, o2 in zip(outs1, outs2):
        assert torch.allclose(o1, o2, atol=1e-5)
    sum(o.sum() for o in outs1).backward()
    sum(o.sum() for o in outs2).backward()
    assert torch.allclose(x1.grad, x2.grad, atol=1e-4)
    for (name, p1), p2 in zip(plain.named_parameters(), ckpt.parameters()):
        assert torch.allclose(p1.grad, p2.grad, atol=1e-3, rtol=1e-3), name


@pytest.mark.parametrize('arch', ARCHS)
def test_switch_to_deploy(models, arch):
    model = copy.deepcopy(models(arch))
    randomize_norms(model)
    model.eval()
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        expected = model(x)
        model.switch_to_deploy()
        assert not any(isinstance(m, _BatchNorm) for m in model.modules())
        once = model(x)
        model.switch_to_deploy()
        twice = model(x)
    for e, o, t in zip(expected, once, twice):
        # atol 1e-4 relative to the output's scale: stage-4 activations reach a few
        # hundred with randomised norms, where float32 rounding alone is ~1e-4.
        assert (o - e).abs().max() <= 1e-4 * e.abs().max().clamp(min=1)
        assert torch.equal(o, t)


def test_drop_path_only_in_training():
    model = TRTViT('a', drop_path_rate=0.3).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(model(x), model(x)))
    rates = [m.drop_prob for m in model.modules() if type(m).__name__ == 'DropPath'
             and m.drop_prob > 0]
    assert rates and max(rates) == pytest.approx(0.3)


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
def test_build_from_registry(scope):
    if scope == 'mmdet':
        from mmdet.registry import MODELS
    else:
        from mmseg.registry import MODELS
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(dict(type='TRTViT', arch='a', out_indices=(1, 2, 3)))
    assert isinstance(model, TRTViT)
    assert model.out_channels == (512, 1024, 1536)


@pytest.mark.parametrize('prefix', ['backbone.', None])
def test_init_cfg_pretrained(tmp_path, prefix):
    torch.manual_seed(1)
    source = TRTViT('a')
    source.init_weights()
    randomize_norms(source)
    state = source.state_dict()
    if prefix:
        state = {prefix + k: v for k, v in state.items()}
        state['neck.some.weight'] = torch.zeros(1)  # other keys must be ignored
    path = tmp_path / 'pretrained.pth'
    torch.save({'state_dict': state}, path)

    init_cfg = dict(type='Pretrained', checkpoint=str(path))
    if prefix:
        init_cfg['prefix'] = prefix
    torch.manual_seed(2)
    model = TRTViT('a', init_cfg=init_cfg)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.init_weights()
    after = model.state_dict()
    changed = [k for k in after if not torch.equal(before[k], after[k])]
    assert len(changed) > len(after) // 2
    for k, v in source.state_dict().items():
        assert torch.equal(after[k], v), k
