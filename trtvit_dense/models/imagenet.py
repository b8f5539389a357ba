"""ImageNet weights a user can ask for by name: ``--backbone-weights nextvit-s=imagenet``,
``tools/train.py --backbone-weights imagenet`` or, in a config,
``init_cfg=dict(type='Pretrained', checkpoint='imagenet://nextvit-s')``.

Each known backbone has one published ImageNet-1k checkpoint (:data:`IMAGENET`): timm's
for Next-ViT, torchvision's for the detectors' ResNet-50, mmpretrain's for mmseg's
ResNetV1c-50. TRT-ViT has none anywhere (the paper released none): its classifier
configs make them. The file is looked for in the cache folder (:func:`cache_dir`:
``$TRTVIT_WEIGHTS_DIR``, default ``~/.cache/trtvit-dense/imagenet``) and fetched into it
only when asked for and allowed (nothing is downloaded at import, and
``TRTVIT_OFFLINE=1`` forbids it); a file that is absent and cannot be fetched is one
line that names the URL and the path to put it at, before anything else is written.
The keys of each file map onto the backbone by :mod:`.pretrained` (timm's and
torchvision's as they are; mmpretrain's ResNetV1c stem by its layout).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ['ImageNetWeights', 'IMAGENET', 'WeightsUnavailable', 'cache_dir',
           'imagenet_weights', 'resolve_weights', 'SCHEME']

SCHEME = 'imagenet://'
CACHE_ENV, OFFLINE_ENV = 'TRTVIT_WEIGHTS_DIR', 'TRTVIT_OFFLINE'


class WeightsUnavailable(FileNotFoundError):
    """ImageNet weights that are not in the cache and cannot be fetched (one line: the
    URL and where to put the file)."""


@dataclass(frozen=True)
class ImageNetWeights:
    backbone: str
    file: str      # its name in the cache folder
    url: str       # where it is published
    source: str    # what it is, for the report: 'timm nextvit_small.bd_in1k'


_TIMM = 'https://huggingface.co/timm/{}/resolve/main/model.safetensors'
IMAGENET = {w.backbone: w for w in (
    *(ImageNetWeights(f'nextvit-{v}', f'{name}.safetensors', _TIMM.format(name),
                      f'timm {name}')
      for v, name in (('s', 'nextvit_small.bd_in1k'), ('b', 'nextvit_base.bd_in1k'),
                      ('l', 'nextvit_large.bd_in1k'))),
    ImageNetWeights('r50', 'resnet50-0676ba61.pth',
                    'https://download.pytorch.org/models/resnet50-0676ba61.pth',
                    'torchvision ResNet50_Weights.IMAGENET1K_V1'),
    ImageNetWeights('r50-v1c', 'resnetv1c50_8xb32_in1k_20220214-3343eccd.pth',
                    'https://download.openmmlab.com/mmclassification/v0/resnet/'
                    'resnetv1c50_8xb32_in1k_20220214-3343eccd.pth',
                    'mmpretrain resnetv1c50_8xb32_in1k'),
)}


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / '.cache' / 'trtvit-dense' /
                'imagenet')


def _fetch(weights: ImageNetWeights, path: Path) -> None:
    """Download into ``path`` (written whole, or not at all)."""
    import urllib.request

    from ..utils.atomic import atomic_path
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, urllib.request.urlopen(weights.url, timeout=30) as r:
        with open(tmp, 'wb') as f:
            while chunk := r.read(1 << 20):
                f.write(chunk)


def imagenet_weights(backbone: str, fetch: bool = True) -> Path:
    """The cached ImageNet checkpoint of ``backbone``, fetched when absent and allowed
    (``fetch`` and no ``$TRTVIT_OFFLINE``); else :class:`WeightsUnavailable`."""
    from .zoo import BACKBONES, get_backbone
    if backbone not in IMAGENET:
        known = get_backbone(backbone) if backbone in BACKBONES else None
        why = known.imagenet if known else f'{backbone!r} is no backbone of the registry'
        raise WeightsUnavailable(f'no ImageNet weights for {backbone}: {why}; give a '
                                 f'checkpoint instead ({backbone}=PATH)')
    weights = IMAGENET[backbone]
    path = cache_dir() / weights.file
    if path.is_file():
        return path
    reason = f'{OFFLINE_ENV} is set' if os.environ.get(OFFLINE_ENV) else 'not fetched'
    if fetch and not os.environ.get(OFFLINE_ENV):
        try:
            _fetch(weights, path)
            return path
        except OSError as e:  # URLError, timeouts, no route: no network here
            reason = f'{type(e).__name__}: {e}'.splitlines()[0][:120]
    raise WeightsUnavailable(f'the ImageNet weights of {backbone} ({weights.source}) are not '
                             f'at {path}: download {weights.url} and put the file there '
                             f'(or set {CACHE_ENV} to the folder that holds it); {reason}')


def resolve_weights(weights: dict, fetch: bool = True) -> dict:
    """``{backbone: 'imagenet' | PATH}`` with every ``imagenet`` resolved to its file
    (:func:`imagenet_weights`); paths are kept as given."""
    return {name: str(imagenet_weights(name, fetch)) if value == 'imagenet' else value
            for name, value in weights.items()}


# the files whose keys are the backbone's as they are (mmengine loads them directly);
# mmpretrain's ResNetV1c (a classifier's keys, another stem layout) needs
# --backbone-weights, which maps them
AS_THEY_ARE = ('nextvit-s', 'nextvit-b', 'nextvit-l', 'r50')


def _load_imagenet_scheme(filename: str, map_location=None, logger=None):
    """mmengine's CheckpointLoader for ``imagenet://<backbone>``."""
    from ..utils.checkpoint import read_checkpoint
    name = filename[len(SCHEME):]
    if name in IMAGENET and name not in AS_THEY_ARE:
        raise WeightsUnavailable(f'{filename}: the keys of {IMAGENET[name].source} do not '
                                 'load into the backbone as they are; give '
                                 f'--backbone-weights {name}=imagenet (tools/compare.py) or '
                                 '--backbone-weights imagenet (tools/train.py), which map them')
    return read_checkpoint(str(imagenet_weights(name)))


def register_scheme() -> None:
    from mmengine.runner import CheckpointLoader
    CheckpointLoader.register_scheme(prefixes=SCHEME, force=True)(_load_imagenet_scheme)
