"""Pretrained backbone weights for detection and segmentation: the pretrain -> fine-tune
bridge.

A backbone pretrained by classification (an mmpretrain ``ImageClassifier`` checkpoint,
keys ``backbone.*`` next to ``head.*``), a bare backbone state dict (torchvision's
ResNet-50, say) or a whole detector/segmentor checkpoint all hold the weights of a
detector's or segmentor's backbone under some key prefix. :func:`match_backbone_weights`
finds that prefix, and the key layout, by trying each candidate against the shapes of the
target backbone, and returns the target's state dict taken from the checkpoint, *every*
weight of it, or refuses naming what is missing. ``tools/train.py --backbone-weights``
writes the result next to the run (:func:`save_backbone_weights`) and points the
backbone's ``init_cfg`` (``Pretrained``) at it, so what mmengine loads is exactly what
was checked.

Key layouts (:data:`LAYOUTS`) cover the one difference between OpenMMLab libraries for
the same backbone: mmpretrain builds ``ResNetV1c``'s deep stem of ``ConvModule`` s
(``stem.<i>.conv``, ``stem.<i>.bn``), mmseg/mmdet of a flat ``Sequential`` (``stem.<3i>``
conv, ``stem.<3i+1>`` BN).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Dict, Mapping, Optional, Sequence

import torch

__all__ = ['BackboneWeights', 'LAYOUTS', 'match_backbone_weights', 'save_backbone_weights']

_STEM_CONV_MODULE = re.compile(r'^stem\.(\d+)\.(conv|bn)\.(.+)$')


def _stem_conv_modules_to_sequential(key: str) -> str:
    """mmpretrain's ``stem.<i>.conv.<p>`` / ``stem.<i>.bn.<p>`` -> mmseg's
    ``stem.<3i>.<p>`` / ``stem.<3i+1>.<p>`` (conv, BN, ReLU per ConvModule)."""
    found = _STEM_CONV_MODULE.match(key)
    if not found:
        return key
    index, part, rest = found.groups()
    return f'stem.{3 * int(index) + (part == "bn")}.{rest}'


# name -> how a checkpoint key (prefix removed) becomes a key of the target backbone
LAYOUTS: Dict[str, Callable[[str], str]] = {
    'same': lambda key: key,
    'mmpretrain stem -> mmseg/mmdet stem': _stem_conv_modules_to_sequential,
}


@dataclass
class BackboneWeights:
    """The target backbone's state dict as found in a checkpoint.

    ``prefix``: the key prefix the backbone had there ('' for a bare state dict);
    ``layout``: the :data:`LAYOUTS` entry that mapped its keys; ``unused``: checkpoint
    keys outside the backbone (a classifier's head, a detector's neck), by count."""

    state_dict: Dict[str, torch.Tensor]
    prefix: str
    layout: str
    unused: int


def _prefixes(keys: Sequence[str], max_depth: int = 3) -> list[str]:
    found = {''}
    for key in keys:
        parts = key.split('.')
        for depth in range(1, min(max_depth, len(parts) - 1) + 1):
            found.add('.'.join(parts[:depth]) + '.')
    return sorted(found)


def _candidate(weights: Mapping[str, torch.Tensor], target: Mapping[str, Sequence[int]],
               prefix: str, layout: Callable[[str], str]) -> Dict[str, torch.Tensor]:
    out = {}
    for key, value in weights.items():
        if not key.startswith(prefix):
            continue
        name = layout(key[len(prefix):])
        if name in target and tuple(value.shape) == tuple(target[name]):
            out[name] = value
    return out


def match_backbone_weights(weights: Mapping[str, torch.Tensor],
                           target: Mapping[str, Sequence[int]], source: str,
                           backbone: str, prefix: Optional[str] = None) -> BackboneWeights:
    """The weights of the backbone whose state dict has the shapes ``target``, from the
    checkpoint state dict ``weights`` (read from ``source``).

    Every (prefix, layout) pair is tried (only ``prefix`` when given) and the one that
    fits most target weights wins; it must fit all of them with their shapes (BatchNorm
    step counters, when the checkpoint has none at all where they belong, start at 0).

    Raises:
        ValueError: no candidate fits every weight of the target; the message names
            ``backbone``, the best candidate and examples of what it lacks.
    """
    prefixes = [prefix if not prefix or prefix.endswith('.') else prefix + '.'] \
        if prefix is not None else _prefixes(list(weights))
    best = None
    for pre in prefixes:
        for name, layout in LAYOUTS.items():
            found = _candidate(weights, target, pre, layout)
            if best is None or len(found) > len(best[2]):
                best = (pre, name, found)
    pre, name, found = best
    # BatchNorm step counters are not weights: checkpoints saved before torch 0.4.1 (and
    # some published ones) lack them; mmcv's BN (momentum 0.1) never reads them
    counters = [k for k in target if k not in found and k.endswith('.num_batches_tracked')]
    if counters and len(found) + len(counters) == len(target):
        found = dict(found, **{k: torch.zeros((), dtype=torch.long) for k in counters})
    if len(found) == len(target):
        return BackboneWeights(state_dict={k: found[k] for k in target}, prefix=pre,
                               layout=name, unused=len(weights) - len(found))
    missing = [k for k in target if k not in found]
    examples = ', '.join(missing[:3]) + (f', ... {len(missing) - 3} more'
                                         if len(missing) > 3 else '')
    where = f'under the key prefix {pre!r}' if pre else 'without a key prefix'
    hint = ('' if prefix is None else '; try without --backbone-prefix (it is found '
            'automatically)')
    raise ValueError(
        f'checkpoint {source} does not hold the weights of {backbone}: at best '
        f'({where}) {len(found)} of its {len(target)} weights fit, {len(missing)} are '
        f'missing or have other shapes ({examples}); pass a checkpoint of this backbone '
        f'(an mmpretrain classifier of the same arch, or its bare state dict){hint}')


def save_backbone_weights(found: BackboneWeights, path: str, source: str) -> None:
    """Write ``found`` as an mmengine checkpoint (``state_dict`` + ``meta`` naming the
    source, prefix and layout) that ``init_cfg=dict(type='Pretrained', checkpoint=path)``
    loads without a prefix. Written atomically: a killed run leaves no half file."""
    from ..utils.atomic import atomic_path
    meta = dict(source=source, prefix=found.prefix, layout=found.layout,
                unused_keys=found.unused)
    with atomic_path(path, suffix='.tmp.pth') as tmp:
        torch.save(dict(state_dict=found.state_dict, meta=meta), str(tmp))
