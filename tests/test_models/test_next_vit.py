"""Next-ViT S/B/L as an OpenMMLab backbone over timm's network: shapes at odd sizes,
argument checks, freezing, checkpointing, timm's ImageNet key layout, the deploy form,
and the registry's channels."""
import pytest
import timm
import torch

from trtvit_dense.models import zoo
from trtvit_dense.models.backbones import NextViT, TRTViT, deploy_form

TIMM_NAMES = {'s': 'nextvit_small', 'b': 'nextvit_base', 'l': 'nextvit_large'}


@pytest.fixture(scope='module')
def small():
    torch.manual_seed(0)
    return NextViT('s').eval()


@pytest.mark.parametrize('hw', [(97, 131), (64, 64), (33, 200)])
def test_outputs_at_strides_4_to_32_for_odd_sizes(small, hw):
    h, w = hw
    with torch.no_grad():
        outs = small(torch.randn(2, 3, h, w))
    expected = []
    for stride, channels in zip((4, 8, 16, 32), (96, 256, 512, 1024)):
        # the stem halves twice (3x3/2 convs, padding 1); each stage halves once
        size = (h, w)
        for _ in range({4: 2, 8: 3, 16: 4, 32: 5}[stride]):
            size = tuple((v + 1) // 2 for v in size)
        expected.append((2, channels, *size))
    assert [tuple(o.shape) for o in outs] == expected


@pytest.mark.parametrize('arch', ['s', 'b', 'l'])
def test_keys_are_timms_so_its_imagenet_checkpoints_load_as_they_are(arch):
    """timm's nextvit_* state dict (its ImageNet checkpoints' layout) holds every key of
    the backbone with the same shape; only its classifier's head.fc is left over."""
    ours = NextViT(arch).state_dict()
    theirs = timm.create_model(TIMM_NAMES[arch], pretrained=False).state_dict()
    assert sorted(set(theirs) - set(ours)) == ['head.fc.bias', 'head.fc.weight']
    assert set(ours) <= set(theirs)
    assert all(theirs[k].shape == v.shape for k, v in ours.items())
    result = NextViT(arch).load_state_dict(
        {k: v for k, v in theirs.items() if not k.startswith('head.')}, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


@pytest.mark.parametrize('kwargs, match', [
    (dict(arch='xl'), r"NextViT arch must be one of \['b', 'l', 's'\], got 'xl'"),
    (dict(out_indices=(0, 4)), r'out_indices entry 4 is out of range \[-4, 3\]'),
    (dict(out_indices=(1, -3)), r'out_indices \(1, -3\) name a stage twice'),
    (dict(frozen_stages=5), r'frozen_stages must be in \[-1, 4\], got 5'),
])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NextViT(**kwargs)


def test_the_final_norm_trains_only_where_it_is_used():
    """Dense heads read the raw stages: timm's final BN gets no gradient there, so it
    must not ask for one (DistributedDataParallel stops on unused parameters)."""
    assert not any(p.requires_grad for p in NextViT('s').norm.parameters())
    assert all(p.requires_grad for p in NextViT('s', final_norm=True).norm.parameters())


def test_frozen_stages_stay_frozen_and_norm_eval(small):
    model = NextViT('s', frozen_stages=2, norm_eval=True).train()
    frozen = [model.stem, model.stages[0], model.stages[1]]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(p.requires_grad for p in model.stages[2].parameters())
    assert all(not m.training for m in frozen)
    assert all(not m.training for m in model.modules()
               if isinstance(m, torch.nn.modules.batchnorm._BatchNorm))
    model.train()  # train() again: still frozen
    assert not model.stem.training and not any(p.requires_grad for p in model.stem.parameters())


def test_checkpointing_and_out_indices_give_the_same_outputs():
    torch.manual_seed(0)
    plain = NextViT('s', drop_path_rate=0.0).train()
    cp = NextViT('s', drop_path_rate=0.0, with_cp=True, out_indices=(1, 3)).train()
    cp.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 64, 96, requires_grad=True)
    a, b = plain(x), cp(x)
    assert len(b) == 2
    torch.testing.assert_close(b[0], a[1])
    torch.testing.assert_close(b[1], a[3])
    b[1].sum().backward()
    assert x.grad is not None


def test_deploy_form_merges_the_pre_norms_without_changing_outputs(small):
    model = NextViT('s', final_norm=True).eval()
    x = torch.randn(1, 3, 97, 131)
    with torch.no_grad():
        before = model(x)
        norms = sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
        deploy_form(model)
        deploy_form(model)  # idempotent
        after = model(x)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) < norms
    # the token pooling that TensorRT cannot import (1-D) is gone
    assert not any(isinstance(m, torch.nn.AvgPool1d) for m in model.modules())
    for p, q in zip(before, after):
        torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('name', sorted(zoo.BACKBONES))
def test_the_registry_states_each_backbones_channels(name):
    entry = zoo.get_backbone(name)
    if entry.source == 'trtvit_dense':
        with torch.device('meta'):
            built = TRTViT(name.split('-')[1]).out_channels
    elif entry.source == 'timm':
        built = NextViT(name.split('-')[1]).out_channels
    else:  # mmdet's ResNet-50 / mmseg's ResNetV1c-50
        built = [256, 512, 1024, 2048]
    assert list(entry.channels) == list(built)
    assert entry.classifier and entry.imagenet
