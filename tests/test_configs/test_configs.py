"""Every config loads, builds its backbone and feeds the neck/heads the right channels."""
from pathlib import Path

import pytest
import torch

from trtvit_dense.apis import ConfigError, load_config
from trtvit_dense.checks import backbone_out_channels, check_channels
from trtvit_dense.datasets import TOY_ADE_CLASSES, TOY_ADE_PALETTE, TOY_COCO_CLASSES
from trtvit_dense.models import TRTViT

ROOT = Path(__file__).parents[2]
CONFIGS = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / 'configs').rglob('*.py')
                 if '_base_' not in p.parts and 'deploy' not in p.parts)
TASK_CONFIGS = [c for c in CONFIGS if not c.startswith('configs/toy/')]


def test_every_task_and_variant_has_a_config():
    expected = {f'configs/mask_rcnn/mask-rcnn_trtvit-{v}_fpn_{s}_coco.py'
                for v in 'abcd' for s in ('1x', '3x')}
    expected |= {f'configs/retinanet/retinanet_trtvit-{v}_fpn_1x_coco.py' for v in 'abcd'}
    expected |= {f'configs/upernet/upernet_trtvit-{v}_4xb4-160k_ade20k-512x512.py'
                 for v in 'abcd'}
    expected |= {'configs/mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
                 'configs/retinanet/retinanet_r50_fpn_1x_coco.py',
                 'configs/upernet/upernet_r50_4xb4-160k_ade20k-512x512.py'}
    assert expected <= set(TASK_CONFIGS)


@pytest.mark.parametrize('config', CONFIGS)
def test_config_channels_match_backbone(config):
    cfg = load_config(str(ROOT / config))
    assert cfg.custom_imports == dict(imports=['trtvit_dense'], allow_failed_imports=False)
    assert cfg.default_scope in ('mmdet', 'mmseg')
    channels = backbone_out_channels(cfg)
    backbone = cfg.model.backbone
    if backbone.type == 'TRTViT':
        with torch.device('meta'):
            expected = TRTViT(backbone.arch, out_indices=backbone.out_indices).out_channels
        assert channels == list(expected)
    else:
        assert channels == [256, 512, 1024, 2048]  # ResNet-50
    if cfg.default_scope == 'mmdet':
        assert list(cfg.model.neck.in_channels) == channels
    else:
        assert list(cfg.model.decode_head.in_channels) == channels
        assert cfg.model.auxiliary_head.in_channels == channels[2]
    check_channels(cfg)


@pytest.mark.parametrize('config', TASK_CONFIGS)
def test_optimizer_and_norms(config):
    cfg = load_config(str(ROOT / config))
    optimizer = cfg.optim_wrapper.optimizer
    assert optimizer.type == 'AdamW' and optimizer.weight_decay == 0.05
    assert cfg.optim_wrapper.paramwise_cfg == dict(norm_decay_mult=0., bias_decay_mult=0.)
    assert cfg.sync_bn == 'torch'
    assert cfg.model.backbone.norm_cfg.type == 'BN'
    assert cfg.model.backbone.init_cfg is None  # nothing is downloaded
    for head in ('decode_head', 'auxiliary_head'):
        if head in cfg.model:
            assert cfg.model[head].norm_cfg.type == 'BN'


TOY_CONFIGS = [c for c in CONFIGS if c.startswith('configs/toy/')]


def test_toy_configs_pair_trtvit_a_with_r50():
    assert len(TOY_CONFIGS) == 6
    for config in TOY_CONFIGS:
        if '_r50_' in config:
            assert config.replace('_r50_', '_trtvit-a_') in TOY_CONFIGS


@pytest.mark.parametrize('config', TOY_CONFIGS)
def test_toy_configs_use_the_generator_classes(config):
    classes, palette = ((TOY_ADE_CLASSES, TOY_ADE_PALETTE) if 'upernet' in config else
                        (TOY_COCO_CLASSES, None))
    cfg = load_config(str(ROOT / config))
    for split in ('train', 'val', 'test'):
        meta = cfg[f'{split}_dataloader'].dataset.metainfo
        assert tuple(meta.classes) == tuple(classes)
        if palette is not None:
            assert [tuple(c) for c in meta.palette] == [tuple(c) for c in palette]


@pytest.mark.parametrize('config,key,value,match', [
    ('configs/mask_rcnn/mask-rcnn_trtvit-b_fpn_1x_coco.py', 'model.neck.in_channels',
     [256, 512, 1024, 2048],
     r'model.neck.in_channels=\[256, 512, 1024, 2048\] does not match the outputs of '
     r"TRTViT\('b'\): \[256, 512, 1024, 1792\]; set model.neck.in_channels="),
    ('configs/upernet/upernet_trtvit-a_4xb4-160k_ade20k-512x512.py',
     'model.auxiliary_head.in_channels', 512,
     r'model.auxiliary_head.in_channels=512 does not match .* at in_index=2: 1024'),
])
def test_channel_mismatch_is_reported(config, key, value, match):
    cfg = load_config(str(ROOT / config), {key: value})
    with pytest.raises(ConfigError, match=match):
        check_channels(cfg)


def test_missing_config_is_reported():
    with pytest.raises(ConfigError, match=r"config file 'configs/nope.py' does not exist"):
        load_config('configs/nope.py')
