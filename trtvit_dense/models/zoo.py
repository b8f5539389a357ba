"""The backbones and model families the tools know: one entry each.

A backbone entry says where its implementation comes from, its output channels (strides
4, 8, 16, 32), where ImageNet weights for it come from and the classifier config that
pretrains it here. A family entry says its task, the prefix of its models' names and
the shipped configs (``{}`` is the backbone's tag). The compare command, the
benchmark's ``--compare``, the demo and the tools' ``choices`` read these tables:
adding a backbone is one entry here plus its configs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ['BackboneEntry', 'FamilyEntry', 'BACKBONES', 'FAMILIES', 'BASELINE',
           'get_backbone', 'get_family', 'family_config', 'backbones_of', 'backbone_name']


@dataclass(frozen=True)
class BackboneEntry:
    name: str                       # what the tools take: 'trtvit-a', 'nextvit-s', 'r50'
    source: str                     # 'trtvit_dense', 'mmdet', 'mmseg', 'mmpretrain', 'timm'
    channels: tuple[int, ...]       # per output, strides 4, 8, 16, 32
    imagenet: str                   # where ImageNet weights come from
    classifier: str | None = None   # the shipped config that pretrains it here
    # family -> the tag its config files carry, where not ``name``; None: no config
    tags: dict = field(default_factory=dict)


@dataclass(frozen=True)
class FamilyEntry:
    name: str          # 'mask_rcnn'
    task: str          # 'detection', 'segmentation', 'classification'
    prefix: str        # models are named '<prefix>_<backbone>'
    config: str        # the full (COCO / ADE20K / ImageNet) config pattern
    toy: str | None    # the demo's fast CPU config pattern


_TRTVIT_WIDTHS = {'a': (256, 512, 1024, 1536), 'b': (256, 512, 1024, 1792),
                  'c': (256, 512, 1024, 2048), 'd': (256, 512, 1024, 2048)}
_NO_TRTVIT_WEIGHTS = ('none exist (the paper released none): pretrain with the '
                      'classifier config')

BACKBONES = {b.name: b for b in (
    *(BackboneEntry(f'trtvit-{v}', 'trtvit_dense', _TRTVIT_WIDTHS[v], _NO_TRTVIT_WEIGHTS,
                    f'imagenet/trtvit-{v}_8xb128_in1k.py') for v in 'abcd'),
    *(BackboneEntry(f'nextvit-{v}', 'timm', (96, 256, 512, 1024),
                    f'timm: nextvit_{size}.bd_in1k', f'imagenet/nextvit-{v}_8xb128_in1k.py')
      for v, size in (('s', 'small'), ('b', 'base'), ('l', 'large'))),
    # the detectors' ResNet-50 (mmdet's ResNet); the segmentors' R50 configs are mmseg's
    # ResNetV1c, so 'r50' and 'r50-v1c' both name them there
    BackboneEntry('r50', 'mmdet', (256, 512, 1024, 2048),
                  'torchvision: ResNet50_Weights.IMAGENET1K_V1 (mmpretrain resnet50_8xb32_in1k)',
                  'imagenet/r50_8xb128_in1k.py'),
    BackboneEntry('r50-v1c', 'mmseg', (256, 512, 1024, 2048),
                  'mmpretrain resnetv1c50_8xb32_in1k',
                  'imagenet/r50-v1c_8xb128_in1k.py',
                  tags={'mask_rcnn': None, 'retinanet': None, 'upernet': 'r50',
                        'semantic_fpn': 'r50'}),
)}
BASELINE = 'r50'

FAMILIES = {f.name: f for f in (
    FamilyEntry('mask_rcnn', 'detection', 'mask-rcnn', 'mask_rcnn/mask-rcnn_{}_fpn_1x_coco.py',
                'toy/mask-rcnn_{}_fpn_toy.py'),
    FamilyEntry('retinanet', 'detection', 'retinanet', 'retinanet/retinanet_{}_fpn_1x_coco.py',
                'toy/retinanet_{}_fpn_toy.py'),
    FamilyEntry('upernet', 'segmentation', 'upernet',
                'upernet/upernet_{}_4xb4-160k_ade20k-512x512.py', 'toy/upernet_{}_toy.py'),
    # the head the TRT-ViT and Next-ViT papers report on ADE20K (PVT's schedule)
    FamilyEntry('semantic_fpn', 'segmentation', 'sem-fpn',
                'sem_fpn/fpn_{}_4xb4-80k_ade20k-512x512.py', None),
    FamilyEntry('imagenet', 'classification', 'classifier', 'imagenet/{}_8xb128_in1k.py',
                'toy/classifier_{}_toy.py'),
)}


def get_backbone(name: str) -> BackboneEntry:
    if name not in BACKBONES:
        raise KeyError(f'unknown backbone {name!r}; choose from {", ".join(BACKBONES)}')
    return BACKBONES[name]


def get_family(name: str) -> FamilyEntry:
    if name not in FAMILIES:
        raise KeyError(f'unknown model family {name!r}; choose from {", ".join(FAMILIES)}')
    return FAMILIES[name]


def family_config(family: str, backbone: str, recipe: str = 'full') -> str | None:
    """The shipped config (relative to configs/) of ``family`` with ``backbone`` in the
    ``recipe`` ('full' or 'toy'), or None when the backbone has none for it."""
    entry, fam = get_backbone(backbone), get_family(family)
    tag = entry.tags.get(family, entry.name)
    pattern = fam.config if recipe == 'full' else fam.toy
    if tag is None or pattern is None:
        return None
    return pattern.format(tag)


def backbone_name(backbone_cfg) -> str | None:
    """The registry name of a config's ``model.backbone`` (None: not a registry one)."""
    kind, arch = backbone_cfg.get('type'), backbone_cfg.get('arch')
    if kind == 'TRTViT':
        return f'trtvit-{arch or "a"}'
    if kind == 'NextViT':
        return f'nextvit-{arch or "s"}'
    if kind in ('ResNet', 'ResNetV1c') and backbone_cfg.get('depth') == 50:
        return 'r50' if kind == 'ResNet' else 'r50-v1c'
    return None


def backbones_of(family: str, recipe: str = 'full') -> tuple[str, ...]:
    """The backbones with a shipped ``family`` config in ``recipe`` (file on disk)."""
    from ..config import ConfigError, package_config

    def shipped(path):
        try:
            return path is not None and bool(package_config(path))
        except ConfigError:  # no such file
            return False
    return tuple(b for b in BACKBONES if shipped(family_config(family, b, recipe)))
