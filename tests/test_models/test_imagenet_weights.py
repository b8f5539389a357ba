"""ImageNet initialisation by name, proven without a download: local files with the real
key layouts (timm's Next-ViT safetensors, torchvision's ResNet-50 state dict), made
from random-init models, in the cache folder; an absent file is one line naming the URL
and the path, and nothing is written."""
from pathlib import Path

import pytest
import timm
import torch
from mmengine.registry import DefaultScope
from safetensors.torch import save_file

from trtvit_dense.apis import load_config, prepare_train_config
from trtvit_dense.models import imagenet
from trtvit_dense.registry import MODELS

ROOT = Path(__file__).parents[2]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / 'cache'
    monkeypatch.setenv(imagenet.CACHE_ENV, str(folder))
    monkeypatch.setenv(imagenet.OFFLINE_ENV, '1')  # never a download in tests
    return folder


def _random(state: dict, seed: int = 0) -> dict:
    gen = torch.Generator().manual_seed(seed)
    return {k: (torch.randint(1, 10**6, v.shape, generator=gen) if v.dtype == torch.long
                else torch.rand(v.shape, generator=gen) + 0.5) for k, v in state.items()}


def timm_nextvit_file(cache: Path) -> dict:
    """timm's nextvit_small state dict (its ImageNet checkpoint's keys, head included)."""
    state = _random(timm.create_model('nextvit_small', pretrained=False).state_dict())
    cache.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()},
              str(cache / imagenet.IMAGENET['nextvit-s'].file))
    return state


def torchvision_r50_file(cache: Path) -> dict:
    """torchvision's resnet50 keys, without BatchNorm step counters (as checkpoints
    saved before torch 0.4.1 are)."""
    import torchvision
    state = _random({k: v for k, v in torchvision.models.resnet50(weights=None)
                     .state_dict().items() if not k.endswith('num_batches_tracked')})
    cache.mkdir(parents=True, exist_ok=True)
    torch.save(state, cache / imagenet.IMAGENET['r50'].file)
    return state


def backbone_after_init(cfg) -> dict:
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    model.init_weights()
    return model.backbone.state_dict()


@pytest.mark.parametrize('config, make', [
    ('configs/retinanet/retinanet_nextvit-s_fpn_1x_coco.py', timm_nextvit_file),
    ('configs/toy/retinanet_r50_fpn_toy.py', torchvision_r50_file),
])
def test_train_tool_takes_imagenet_by_name(config, make, cache, tmp_path):
    """``--backbone-weights imagenet``: every backbone tensor is the file's (timm's and
    torchvision's keys as they are), the classifier's fc is left out."""
    source = make(cache)
    cfg = load_config(str(ROOT / config))
    prepare_train_config(cfg, config, work_dir=str(tmp_path / 'work'),
                         backbone_weights='imagenet')
    backbone = backbone_after_init(cfg)
    assert set(source) - set(backbone) <= {'head.fc.weight', 'head.fc.bias', 'fc.weight',
                                           'fc.bias'}
    for key, value in backbone.items():
        if key.endswith('num_batches_tracked') and key not in source:
            continue  # a step counter the file does not have: starts at 0
        assert torch.equal(value, source[key]), key


def test_configs_name_imagenet_weights_in_init_cfg(cache):
    """``init_cfg=dict(type='Pretrained', checkpoint='imagenet://nextvit-s')``."""
    source = timm_nextvit_file(cache)
    cfg = load_config(str(ROOT / 'configs/retinanet/retinanet_nextvit-s_fpn_1x_coco.py'))
    cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint='imagenet://nextvit-s')
    backbone = backbone_after_init(cfg)
    assert all(torch.equal(v, source[k]) for k, v in backbone.items())


def test_the_scheme_refuses_a_file_whose_keys_need_mapping(cache):
    from mmengine.runner import CheckpointLoader
    with pytest.raises(imagenet.WeightsUnavailable, match=r'imagenet://r50-v1c: the keys of '
                       r'mmpretrain resnetv1c50_8xb32_in1k do not load into the backbone as '
                       r'they are; give --backbone-weights r50-v1c=imagenet'):
        CheckpointLoader.load_checkpoint('imagenet://r50-v1c')


def test_absent_weights_are_one_line_with_the_url_and_the_path(cache):
    with pytest.raises(imagenet.WeightsUnavailable) as raised:
        imagenet.imagenet_weights('nextvit-s')
    text = str(raised.value)
    assert '\n' not in text
    assert text == (
        f"the ImageNet weights of nextvit-s (timm nextvit_small.bd_in1k) are not at "
        f"{cache / 'nextvit_small.bd_in1k.safetensors'}: download "
        'https://huggingface.co/timm/nextvit_small.bd_in1k/resolve/main/model.safetensors '
        f'and put the file there (or set {imagenet.CACHE_ENV} to the folder that holds it); '
        f'{imagenet.OFFLINE_ENV} is set')
    assert not cache.exists()  # nothing half-written


def test_a_failed_download_writes_nothing(cache, monkeypatch):
    monkeypatch.delenv(imagenet.OFFLINE_ENV)

    def no_network(*args, **kwargs):
        raise OSError('[Errno 101] Network is unreachable')
    monkeypatch.setattr('urllib.request.urlopen', no_network)
    with pytest.raises(imagenet.WeightsUnavailable, match=r'put the file there .*; OSError: '
                       r'\[Errno 101\] Network is unreachable$'):
        imagenet.imagenet_weights('r50')
    assert not any(cache.rglob('*')) if cache.exists() else True


def test_trtvit_has_no_imagenet_weights_and_says_what_to_do(cache):
    with pytest.raises(imagenet.WeightsUnavailable,
                       match=r'no ImageNet weights for trtvit-a: none exist \(the paper '
                       r'released none\): pretrain with the classifier config; give a '
                       r'checkpoint instead \(trtvit-a=PATH\)'):
        imagenet.imagenet_weights('trtvit-a')


def test_the_report_flags_backbones_that_started_differently():
    from trtvit_dense.apis.compare import CompareModel, start_warning
    same = [CompareModel('retinanet_nextvit-s', 'retinanet', 'nextvit-s', 'c.py', 'b.py',
                         'detection', 'x.safetensors', 'ImageNet (timm nextvit_small.bd_in1k)'),
            CompareModel('retinanet_r50', 'retinanet', 'r50', 'c.py', 'b.py', 'detection',
                         'r.pth', 'ImageNet (torchvision ResNet50_Weights.IMAGENET1K_V1)')]
    assert start_warning(same) is None
    mixed = same + [CompareModel('retinanet_trtvit-a', 'retinanet', 'trtvit-a', 'c.py',
                                 'b.py', 'detection')]
    warning = start_warning(mixed)
    assert warning.startswith('**The backbones did not start the same way** ('
                              'retinanet_nextvit-s: ImageNet (timm nextvit_small.bd_in1k), ')
    assert 'retinanet_trtvit-a: scratch' in warning
