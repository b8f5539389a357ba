"""Next-ViT: the TensorRT-oriented successor of TRT-ViT, as an OpenMMLab backbone.

Paper: Li et al., "Next-ViT: Next Generation Vision Transformer for Efficient Deployment
in Realistic Industrial Scenarios", arXiv 2207.05501 (2022, ByteDance).

The network is timm's ``nextvit_small/base/large`` (timm 1.0, a pinned dependency):
its stem and four stages are this module's ``stem`` and ``stages``, so the keys of
timm's ImageNet checkpoints (``timm/nextvit_small.bd_in1k``: ``stem.0.conv.weight``,
``stages.0.blocks.0...``) are this backbone's keys as they are; their ``norm`` (the BN
after the last stage) is kept as ``norm``, applied with ``final_norm`` (the classifier),
and their ``head`` is a classifier's. Outputs are the four stages' (strides 4-32,
S/B/L: 96, 256, 512, 1024 channels).

Deploy form, made at export (:func:`reparameterize`): every block's pre-norm BatchNorm
merged into the linear layer after it (timm's ``reparameterize``, the paper's
deploy-time merge), and the attention's key/value token pooling (``nn.AvgPool1d`` over
the flattened tokens, which exports as a 1-D AveragePool that TensorRT 10 cannot
import) computed as the same pooling in 2-D over a height-1 map.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

from ...registry import MODELS
from .trt_vit import parse_out_indices

__all__ = ['NextViT', 'reparameterize']


def _timm_nextvit(name: str, drop_path_rate: float) -> nn.Module:
    try:
        import timm
    except ImportError as e:  # a declared dependency; an old environment may lack it
        raise ImportError('Next-ViT backbones need timm (pip install timm==1.0.31, '
                          'pinned in requirements.txt)') from e
    return timm.create_model(name, pretrained=False, num_classes=0,
                             drop_path_rate=drop_path_rate)


class TokenPool2d(nn.Module):
    """``nn.AvgPool1d(k, k)`` over ``[B, C, N]`` tokens as a 2-D pool over ``[B, C, 1,
    N]``: the same numbers, and an AveragePool TensorRT imports."""

    def __init__(self, kernel: int):
        super().__init__()
        self.kernel = kernel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x.unsqueeze(2), (1, self.kernel), (1, self.kernel)).squeeze(2)


def reparameterize(model: nn.Module) -> nn.Module:
    """Merge the pre-norm BatchNorms of every Next-ViT block below ``model`` into the
    linear layers after them (eval mode only: it uses the running statistics);
    idempotent."""
    for module in list(model.modules()):
        if isinstance(module, NextViT):
            module.reparameterize()
    return model


@MODELS.register_module()
class NextViT(BaseModule):
    """Next-ViT backbone (OpenMMLab 2.0) over timm's network.

    Args:
        arch: ``'s'``, ``'b'`` or ``'l'`` (timm's ``nextvit_small/base/large``).
        out_indices: stages (0-3, negatives allowed) whose outputs are returned.
        frozen_stages: -1 freezes nothing, 0 the stem, ``i`` the stem and stages 1..i.
        norm_eval: keep BatchNorm layers in eval mode during training.
        with_cp: gradient checkpointing per stage (saves memory, same outputs).
        drop_path_rate: maximum stochastic-depth rate (timm's schedule).
        final_norm: apply the BN after the last stage to its output (timm's classifier
            does; dense heads read the raw stage outputs).
        init_cfg: mmengine init config, e.g. ``dict(type='Pretrained',
            checkpoint='nextvit_small.bd_in1k.pth')`` (timm's keys as they are) or
            ``prefix='backbone.'`` for a classifier trained here.
    """

    arch_settings = {'s': 'nextvit_small', 'b': 'nextvit_base', 'l': 'nextvit_large'}
    num_stages = 4

    def __init__(self,
                 arch: str = 's',
                 out_indices: Union[int, Sequence[int]] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 drop_path_rate: float = 0.1,
                 final_norm: bool = False,
                 init_cfg: Optional[Union[Dict, List[Dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if arch not in self.arch_settings:
            raise ValueError(f'NextViT arch must be one of {sorted(self.arch_settings)}, '
                             f'got {arch!r}')
        self.arch = arch
        self.out_indices = parse_out_indices(out_indices, self.num_stages)
        if not -1 <= frozen_stages <= self.num_stages:
            raise ValueError(f'frozen_stages must be in [-1, {self.num_stages}], '
                             f'got {frozen_stages}')
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.final_norm = final_norm
        net = _timm_nextvit(self.arch_settings[arch], drop_path_rate)
        self.stem, self.stages, self.norm = net.stem, net.stages, net.norm
        if not final_norm:  # kept for timm's keys, but unused: no gradient (DDP would stop)
            self.norm.requires_grad_(False)
        self.out_channels = [info['num_chs'] for info in net.feature_info]
        self._freeze_stages()

    def _freeze_stages(self) -> None:
        frozen = ([self.stem] if self.frozen_stages >= 0 else []) + \
            list(self.stages[:max(self.frozen_stages, 0)])
        for module in frozen:
            module.eval()
            for p in module.parameters():
                p.requires_grad = False

    def train(self, mode: bool = True) -> 'NextViT':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    def init_weights(self) -> None:
        # timm initialised the network at construction; Pretrained loads over it
        if self.init_cfg is not None:
            super().init_weights()

    @torch.no_grad()
    def reparameterize(self) -> None:
        """The deploy form (see the module); eval mode only, idempotent."""
        for module in list(self.stages.modules()):
            if hasattr(module, 'reparameterize'):
                module.reparameterize()
            pool = getattr(module, 'sr', None)
            if isinstance(pool, nn.AvgPool1d):
                kernel = pool.kernel_size[0]
                if pool.stride[0] != kernel or pool.padding[0] or pool.ceil_mode:
                    raise ValueError(f'cannot rewrite {pool} for export: only AvgPool1d(k, k)')
                module.sr = TokenPool2d(kernel)

    def forward(self, x: torch.Tensor) -> tuple:
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = cp.checkpoint(stage, x, use_reentrant=False) if (
                self.with_cp and x.requires_grad) else stage(x)
            if i in self.out_indices:
                outs.append(self.norm(x) if self.final_norm and i == self.num_stages - 1
                            else x)
        return tuple(outs)
