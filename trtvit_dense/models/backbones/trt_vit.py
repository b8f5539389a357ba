"""TRT-ViT: TensorRT-oriented Vision Transformer backbone for dense prediction.

Paper: Xia et al., "TRT-ViT: TensorRT-oriented Vision Transformer", arXiv 2205.09579 (2022).

The paper's design rules, which this file follows:

* early CNN, late Transformer at stage level (C-C-C-M);
* shallow-then-deep stages and a ResNet-like pyramid (strides 4, 8, 16, 32);
* hybrid global-then-local blocks (MixBlockC) only in the last stage, channel shrink
  ratio R = 0.5;
* Transformer parts use LayerNorm + GELU, MLP ratio 3 and head dim 32; BottleNecks use
  BatchNorm + ReLU.

The paper published no code and its architecture table is not available to us, so the
exact layer layout below is **our reconstruction** (see README, "Architecture"):

* stem: ResNet stem (7x7/2 conv, 64 channels, BN, ReLU, 3x3/2 max-pool);
* stages 1-3: ResNet BottleNecks (expansion 4, projection shortcut where the shape
  changes, stride on the 3x3 conv in the first block of stages 2-3);
* stage 4: one stride-2 BottleNeck to width C4, then N4 MixBlockC blocks;
* MixBlockC(C): 1x1 conv + BN projects C -> R*C; a pre-norm Transformer layer over the
  R*C-channel tokens gives the global branch; a BottleNeck on the global features gives
  the local branch with (1-R)*C channels; the output is ``x + concat(global, local)``.

No absolute position embedding is used, so any input size >= 32 works. Variant widths
and depths were calibrated so that TRT-ViT-C has ~69M backbone parameters (the
downstream tables of the paper imply ~65.6M; we are within 7%).
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from mmengine.model.weight_init import constant_init
from torch.nn.modules.batchnorm import _BatchNorm

from ...registry import MODELS

__all__ = ['ConvNormAct', 'Bottleneck', 'Attention', 'TransformerLayer', 'MixBlockC',
           'TRTViT', 'switch_to_deploy']


def drop_path(x: torch.Tensor, drop_prob: float, training: bool) -> torch.Tensor:
    """Stochastic depth: drop the whole residual branch per sample."""
    if drop_prob == 0. or not training:
        return x
    keep_prob = 1. - drop_prob
    shape = (x.shape[0], ) + (1, ) * (x.ndim - 1)
    mask = x.new_empty(shape).bernoulli_(keep_prob)
    return x * mask / keep_prob


class DropPath(nn.Module):

    def __init__(self, drop_prob: float = 0.) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f'drop_prob={self.drop_prob}'


class ConvNormAct(nn.Module):
    """Conv -> norm -> optional ReLU, with BatchNorm folding for deployment."""

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int,
                 stride: int = 1,
                 norm_cfg: Dict = dict(type='BN'),
                 conv_cfg: Optional[Dict] = None,
                 act: bool = True) -> None:
        super().__init__()
        self.conv = build_conv_layer(
            conv_cfg,
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=kernel_size // 2,
            bias=False)
        self.norm = build_norm_layer(norm_cfg, out_channels)[1]
        self.act = nn.ReLU(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))

    @torch.no_grad()
    def switch_to_deploy(self) -> None:
        """Fold the (eval-mode) BatchNorm into the conv; idempotent."""
        if not isinstance(self.norm, _BatchNorm):
            return
        conv, bn = self.conv, self.norm
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        fused = nn.Conv2d(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
            groups=conv.groups,
            bias=True).to(conv.weight.device, conv.weight.dtype)
        fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
        fused.bias.copy_(bn.bias + (bias - bn.running_mean) * scale)
        self.conv = fused
        self.norm = nn.Identity()


class Bottleneck(nn.Module):
    """ResNet BottleNeck (expansion 4, BN + ReLU, stride on the 3x3 conv)."""

    expansion = 4

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 stride: int = 1,
                 drop_path_rate: float = 0.,
                 norm_cfg: Dict = dict(type='BN'),
                 conv_cfg: Optional[Dict] = None) -> None:
        super().__init__()
        mid = out_channels // self.expansion
        cfg = dict(norm_cfg=norm_cfg, conv_cfg=conv_cfg)
        self.conv1 = ConvNormAct(in_channels, mid, 1, **cfg)
        self.conv2 = ConvNormAct(mid, mid, 3, stride=stride, **cfg)
        self.conv3 = ConvNormAct(mid, out_channels, 1, act=False, **cfg)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = ConvNormAct(
                in_channels, out_channels, 1, stride=stride, act=False, **cfg)
        self.drop_path = DropPath(drop_path_rate)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.conv3(self.conv2(self.conv1(x)))
        return self.relu(identity + self.drop_path(out))


class Attention(nn.Module):
    """Multi-head self-attention over (B, N, C) tokens.

    Written with explicit matmuls (not ``scaled_dot_product_attention``) so that mmengine's
    FLOP counter sees the attention products and the ONNX graph is plain
    MatMul/Softmax, which TensorRT fuses into its own MHA kernels.
    """

    def __init__(self, dim: int, head_dim: int = 32, qkv_bias: bool = True) -> None:
        super().__init__()
        self.num_heads = dim // head_dim
        self.head_dim = head_dim
        self.scale = head_dim**-0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        x = attn.softmax(dim=-1) @ v
        return self.proj(x.transpose(1, 2).reshape(B, N, C))


class TransformerLayer(nn.Module):
    """Pre-norm Transformer layer: LN -> MHSA -> +, LN -> MLP(GELU) -> +."""

    def __init__(self,
                 dim: int,
                 head_dim: int = 32,
                 mlp_ratio: float = 3.,
                 drop_path_rate: float = 0.) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, head_dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.drop_path = DropPath(drop_path_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class MixBlockC(nn.Module):
    """Hybrid global-then-local block of the last stage.

    ``x -> 1x1 conv+BN (C -> R*C) -> Transformer (global) -> BottleNeck (local,
    (1-R)*C channels)``; output ``x + concat(global, local)``.
    """

    def __init__(self,
                 channels: int,
                 mix_ratio: float = 0.5,
                 head_dim: int = 32,
                 mlp_ratio: float = 3.,
                 drop_path_rate: float = 0.,
                 norm_cfg: Dict = dict(type='BN'),
                 conv_cfg: Optional[Dict] = None) -> None:
        super().__init__()
        global_channels = int(channels * mix_ratio)
        local_channels = channels - global_channels
        self.proj = ConvNormAct(
            channels, global_channels, 1, act=False, norm_cfg=norm_cfg, conv_cfg=conv_cfg)
        self.transformer = TransformerLayer(global_channels, head_dim, mlp_ratio)
        self.local = Bottleneck(
            global_channels, local_channels, norm_cfg=norm_cfg, conv_cfg=conv_cfg)
        self.drop_path = DropPath(drop_path_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.proj(x)
        B, C, H, W = g.shape
        g = self.transformer(g.flatten(2).transpose(1, 2))
        g = g.transpose(1, 2).reshape(B, C, H, W)
        return x + self.drop_path(torch.cat([g, self.local(g)], dim=1))


def switch_to_deploy(model: nn.Module) -> nn.Module:
    """Fold BatchNorm into the conv of every :class:`ConvNormAct` below ``model``.

    Idempotent; ``model`` may be a whole detector or segmentor. Only valid in eval
    mode: folding uses the BatchNorm running statistics.
    """
    for module in list(model.modules()):
        if module is not model and isinstance(module, ConvNormAct):
            module.switch_to_deploy()
    return model


def parse_out_indices(out_indices: Union[int, Sequence[int]], num_stages: int
                      ) -> Tuple[int, ...]:
    """``out_indices`` (an int or ints in ``[-num_stages, num_stages - 1]``, each stage
    once) as non-negative stage indices, in the given order."""
    if isinstance(out_indices, int):
        out_indices = [out_indices]
    if not isinstance(out_indices, Sequence) or not out_indices:
        raise ValueError('out_indices must be an int or a non-empty sequence of ints, '
                         f'got {out_indices!r}')
    parsed = []
    for index in out_indices:
        if not isinstance(index, int) or not -num_stages <= index < num_stages:
            raise ValueError(f'out_indices entry {index!r} is out of range '
                             f'[-{num_stages}, {num_stages - 1}]')
        parsed.append(index % num_stages)
    if len(set(parsed)) != len(parsed):
        raise ValueError(f'out_indices {tuple(out_indices)} name a stage twice')
    return tuple(parsed)


@MODELS.register_module()
class TRTViT(BaseModule):
    """TRT-ViT backbone (OpenMMLab 2.0).

    Args:
        arch: ``'a'``, ``'b'``, ``'c'``, ``'d'`` or a dict with keys ``stage_blocks``
            (BottleNecks per stage; stage 4 holds the strided one), ``mix_blocks``
            (MixBlockC count in stage 4) and ``widths`` (output channels per stage).
        in_channels: input image channels.
        stem_channels: width of the ResNet stem.
        mix_ratio: channel shrink ratio R of MixBlockC (global share of channels).
        head_dim: channels per attention head.
        mlp_ratio: Transformer MLP expansion.
        out_indices: stages (0-3, negatives allowed) whose outputs are returned.
        frozen_stages: -1 freezes nothing, 0 the stem, ``i`` the stem and stages 1..i.
        norm_eval: keep BatchNorm layers in eval mode during training.
        with_cp: gradient checkpointing per block (saves memory, same outputs).
        drop_path_rate: maximum stochastic-depth rate, linearly increased over blocks.
        norm_cfg: norm of the convolutional parts (BN; SyncBN in distributed configs).
        conv_cfg: conv layer config (None: ``nn.Conv2d``).
        zero_init_residual: zero the last norm of each BottleNeck at init (as mmdet's
            ResNet), ignored when loading pretrained weights.
        init_cfg: mmengine init config, e.g.
            ``dict(type='Pretrained', checkpoint=..., prefix='backbone.')``.
    """

    arch_settings = {
        'a': dict(stage_blocks=(2, 2, 4, 1), mix_blocks=2, widths=(256, 512, 1024, 1536)),
        'b': dict(stage_blocks=(2, 3, 6, 1), mix_blocks=3, widths=(256, 512, 1024, 1792)),
        'c': dict(stage_blocks=(2, 3, 6, 1), mix_blocks=4, widths=(256, 512, 1024, 2048)),
        'd': dict(stage_blocks=(2, 4, 12, 1), mix_blocks=6, widths=(256, 512, 1024, 2048)),
    }
    num_stages = 4

    def __init__(self,
                 arch: Union[str, Dict] = 'a',
                 in_channels: int = 3,
                 stem_channels: int = 64,
                 mix_ratio: float = 0.5,
                 head_dim: int = 32,
                 mlp_ratio: float = 3.,
                 out_indices: Union[int, Sequence[int]] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 drop_path_rate: float = 0.,
                 norm_cfg: Dict = dict(type='BN', requires_grad=True),
                 conv_cfg: Optional[Dict] = None,
                 zero_init_residual: bool = True,
                 init_cfg: Optional[Union[Dict, List[Dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.arch = self._parse_arch(arch)
        widths = self.arch['widths']
        stage_blocks = self.arch['stage_blocks']
        mix_blocks = self.arch['mix_blocks']
        global_channels = int(widths[-1] * mix_ratio)
        if not 0 < mix_ratio < 1 or global_channels % head_dim:
            raise ValueError(
                f'mix_ratio * widths[-1] = {mix_ratio} * {widths[-1]} must be a positive '
                f'multiple of head_dim={head_dim} with 0 < mix_ratio < 1')
        self.out_indices = self._parse_out_indices(out_indices)
        if not -1 <= frozen_stages <= self.num_stages:
            raise ValueError(f'frozen_stages must be in [-1, {self.num_stages}], '
                             f'got {frozen_stages}')
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.zero_init_residual = zero_init_residual

        cfg = dict(norm_cfg=norm_cfg, conv_cfg=conv_cfg)
        self.stem = nn.Sequential(
            ConvNormAct(in_channels, stem_channels, 7, stride=2, **cfg),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1))

        total_blocks = sum(stage_blocks) + mix_blocks
        # Linear stochastic-depth schedule (plain Python: also builds on the meta device).
        dpr = [drop_path_rate * i / max(total_blocks - 1, 1) for i in range(total_blocks)]
        self.stages = nn.ModuleList()
        in_ch, block_id = stem_channels, 0
        for i, (num_blocks, width) in enumerate(zip(stage_blocks, widths)):
            blocks = []
            for j in range(num_blocks):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(
                    Bottleneck(in_ch, width, stride, dpr[block_id], **cfg))
                in_ch, block_id = width, block_id + 1
            if i == self.num_stages - 1:
                for _ in range(mix_blocks):
                    blocks.append(
                        MixBlockC(width, mix_ratio, head_dim, mlp_ratio, dpr[block_id],
                                  **cfg))
                    block_id += 1
            self.stages.append(nn.Sequential(*blocks))
        # Outputs come in stage order whatever the order of out_indices.
        self.out_channels = tuple(w for i, w in enumerate(widths) if i in self.out_indices)
        self._freeze_stages()

    @classmethod
    def _parse_arch(cls, arch: Union[str, Dict]) -> Dict:
        if isinstance(arch, str):
            if arch not in cls.arch_settings:
                raise ValueError(f'Unknown TRTViT arch {arch!r}; valid choices: '
                                 f'{sorted(cls.arch_settings)} or a dict with keys '
                                 "'stage_blocks', 'mix_blocks', 'widths'")
            return dict(cls.arch_settings[arch])
        if not isinstance(arch, dict):
            raise ValueError(f'arch must be one of {sorted(cls.arch_settings)} or a dict, '
                             f'got {type(arch).__name__}')
        keys = {'stage_blocks', 'mix_blocks', 'widths'}
        if set(arch) != keys:
            raise ValueError(f'A custom TRTViT arch dict needs exactly the keys '
                             f'{sorted(keys)}, got {sorted(arch)}')
        arch = dict(stage_blocks=tuple(arch['stage_blocks']), mix_blocks=arch['mix_blocks'],
                    widths=tuple(arch['widths']))
        if len(arch['stage_blocks']) != cls.num_stages or len(
                arch['widths']) != cls.num_stages:
            raise ValueError(f"arch 'stage_blocks' and 'widths' need {cls.num_stages} "
                             f'entries, got {arch["stage_blocks"]} and {arch["widths"]}')
        if arch['stage_blocks'][-1] < 1 or min(arch['stage_blocks']) < 1:
            raise ValueError('every stage needs at least one BottleNeck (stage 4 starts '
                             f'with the strided one), got {arch["stage_blocks"]}')
        if any(w % Bottleneck.expansion for w in arch['widths']):
            raise ValueError(f'widths must be multiples of {Bottleneck.expansion}, '
                             f'got {arch["widths"]}')
        return arch

    @classmethod
    def _parse_out_indices(cls, out_indices: Union[int, Sequence[int]]) -> Tuple[int, ...]:
        return parse_out_indices(out_indices, cls.num_stages)

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        for module in [self.stem, *self.stages[:self.frozen_stages]]:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def init_weights(self) -> None:
        if self.init_cfg is not None:
            # Pretrained (or user-given) initialisation through mmengine.
            super().init_weights()
            return
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, (_BatchNorm, nn.GroupNorm, nn.LayerNorm)):
                constant_init(m, 1, bias=0)
            elif isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        if self.zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck) and isinstance(m.conv3.norm, _BatchNorm):
                    constant_init(m.conv3.norm, 0)
        self._is_init = True

    def switch_to_deploy(self) -> 'TRTViT':
        """Fold every BatchNorm into its conv (eval mode only); idempotent."""
        return switch_to_deploy(self)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages):
            for block in stage:
                if self.with_cp and self.training and x.requires_grad:
                    x = cp.checkpoint(block, x, use_reentrant=False)
                else:
                    x = block(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def train(self, mode: bool = True) -> 'TRTViT':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
