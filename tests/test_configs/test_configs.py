"""Every config loads, builds its backbone and feeds the neck/heads the right channels."""
from pathlib import Path

import pytest
import torch

from trtvit_dense.apis import ConfigError, load_config
from trtvit_dense.checks import backbone_out_channels, check_channels
from trtvit_dense.datasets import (TOY_ADE_CLASSES, TOY_ADE_PALETTE, TOY_COCO_CLASSES,
                                   TOY_IMAGENET_CLASSES)
from trtvit_dense.models import TRTViT, zoo

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
    expected |= {f'configs/imagenet/{b}_8xb128_in1k.py'
                 for b in ('trtvit-a', 'trtvit-b', 'trtvit-c', 'trtvit-d', 'r50', 'r50-v1c')}
    expected |= {path for v in 'sbl' for path in (
        f'configs/mask_rcnn/mask-rcnn_nextvit-{v}_fpn_1x_coco.py',
        f'configs/retinanet/retinanet_nextvit-{v}_fpn_1x_coco.py',
        f'configs/upernet/upernet_nextvit-{v}_4xb4-160k_ade20k-512x512.py',
        f'configs/imagenet/nextvit-{v}_8xb128_in1k.py')}
    expected |= {f'configs/sem_fpn/fpn_{b}_4xb4-80k_ade20k-512x512.py' for b in (
        'trtvit-a', 'trtvit-b', 'trtvit-c', 'trtvit-d', 'nextvit-s', 'nextvit-b', 'nextvit-l',
        'r50')}
    expected |= {'configs/mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
                 'configs/retinanet/retinanet_r50_fpn_1x_coco.py',
                 'configs/upernet/upernet_r50_4xb4-160k_ade20k-512x512.py'}
    assert expected <= set(TASK_CONFIGS)


@pytest.mark.parametrize('config', CONFIGS)
def test_config_channels_match_backbone(config):
    cfg = load_config(str(ROOT / config))
    assert cfg.custom_imports == dict(imports=['trtvit_dense'], allow_failed_imports=False)
    assert cfg.default_scope in ('mmdet', 'mmseg', 'mmpretrain')
    channels = backbone_out_channels(cfg)
    backbone = cfg.model.backbone
    if backbone.type == 'TRTViT':
        with torch.device('meta'):
            expected = TRTViT(backbone.arch, out_indices=backbone.out_indices).out_channels
        assert channels == list(expected)
    name = {'TRTViT': f'trtvit-{backbone.get("arch")}', 'NextViT': f'nextvit-{backbone.get("arch")}'
            }.get(backbone.type, 'r50')  # else ResNet-50: every stage or the last one
    assert channels == list(zoo.get_backbone(name).channels)[-len(channels):]
    if cfg.default_scope == 'mmpretrain':  # the pooled last stage feeds the head
        assert channels == channels[-1:] and cfg.model.head.in_channels == channels[-1]
        assert cfg.model.neck.type == 'GlobalAveragePooling'
    elif cfg.default_scope == 'mmdet' or cfg.model.get('neck'):  # ... or Semantic FPN
        assert list(cfg.model.neck.in_channels) == channels
    else:
        assert list(cfg.model.decode_head.in_channels) == channels
        assert cfg.model.auxiliary_head.in_channels == channels[2]
    check_channels(cfg)


@pytest.mark.parametrize('config', TASK_CONFIGS)
def test_optimizer_and_norms(config):
    cfg = load_config(str(ROOT / config))
    optimizer = cfg.optim_wrapper.optimizer
    if config.startswith('configs/sem_fpn/'):  # PVT's Semantic FPN recipe (the papers')
        assert optimizer.type == 'AdamW' and optimizer.lr == 1e-4
        assert optimizer.weight_decay == 1e-4 and cfg.train_cfg.max_iters == 80000
        assert [(s.type, s.power) for s in cfg.param_scheduler] == [('PolyLR', 0.9)]
        optimizer = dict(optimizer, weight_decay=0.05)  # the rest as every config
    assert optimizer['type'] == 'AdamW' and optimizer['weight_decay'] == 0.05
    paramwise = cfg.optim_wrapper.paramwise_cfg
    assert paramwise.norm_decay_mult == 0. and paramwise.bias_decay_mult == 0.
    if cfg.default_scope == 'mmpretrain':  # the ImageNet recipe (DeiT/Swin)
        assert optimizer.lr == pytest.approx(1e-3) and cfg.auto_scale_lr.base_batch_size == 1024
        assert cfg.train_dataloader.batch_size * 8 == 1024  # 8xb128
        assert cfg.train_cfg.max_epochs == 300
        assert cfg.model.head.loss == dict(type='LabelSmoothLoss', label_smooth_val=0.1,
                                           mode='original')
        assert cfg.model.train_cfg.augments == [dict(type='Mixup', alpha=0.8),
                                                dict(type='CutMix', alpha=1.0)]
        assert [s.type for s in cfg.param_scheduler] == ['LinearLR', 'CosineAnnealingLR']
        steps = [t.type for t in cfg.train_dataloader.dataset.pipeline]
        assert {'RandAugment', 'RandomErasing', 'RandomResizedCrop'} <= set(steps)
        assert cfg.model.data_preprocessor.to_rgb
    else:
        assert paramwise == dict(norm_decay_mult=0., bias_decay_mult=0.)
    assert cfg.sync_bn == 'torch'
    assert cfg.model.backbone.get('norm_cfg', dict(type='BN'))['type'] == 'BN'
    init = cfg.model.backbone.get('init_cfg')  # nothing is downloaded
    assert init is None or 'Pretrained' not in str(init)
    for head in ('decode_head', 'auxiliary_head'):
        if head in cfg.model:
            assert cfg.model[head].norm_cfg.type == 'BN'


TOY_CONFIGS = [c for c in CONFIGS if c.startswith('configs/toy/')]


def test_toy_configs_pair_trtvit_a_with_r50():
    """Each family's toy TRT-ViT-A config, and R50 and Next-ViT-S deltas on it."""
    assert len(TOY_CONFIGS) == 13
    for config in TOY_CONFIGS:
        for other in ('_r50_', '_r50-v1c_', '_nextvit-s_'):
            if other in config:
                assert config.replace(other, '_trtvit-a_') in TOY_CONFIGS


@pytest.mark.parametrize('config', TOY_CONFIGS)
def test_toy_configs_use_the_generator_classes(config):
    classes, palette = ((TOY_ADE_CLASSES, TOY_ADE_PALETTE) if 'upernet' in config else
                        (TOY_COCO_CLASSES, None))
    cfg = load_config(str(ROOT / config))
    if cfg.default_scope == 'mmpretrain':
        for split in ('train', 'val', 'test'):
            assert tuple(cfg[f'{split}_dataloader'].dataset.classes) == TOY_IMAGENET_CLASSES
        assert cfg.model.head.num_classes == len(TOY_IMAGENET_CLASSES)
        return
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
    ('configs/imagenet/trtvit-b_8xb128_in1k.py', 'model.head.in_channels', 1536,
     r"model.head.in_channels=1536 does not match the last output of TRTViT\('b'\): 1792 "
     r'channels; set model.head.in_channels=1792'),
])
def test_channel_mismatch_is_reported(config, key, value, match):
    cfg = load_config(str(ROOT / config), {key: value})
    with pytest.raises(ConfigError, match=match):
        check_channels(cfg)


def test_missing_config_is_reported():
    with pytest.raises(ConfigError, match=r"config file 'configs/nope.py' does not exist"):
        load_config('configs/nope.py')
