#!/usr/bin/env python
"""FP16 accuracy of the exported TRTViT backbone: fp32-kept ops versus everything fp16.

Exports the backbone alone (random weights, randomised BatchNorm statistics so that
folded convs are not near-identity), converts it with
:func:`trtvit_dense.deploy.quantize.fp16.convert_to_fp16` once per block list and prints the
error of every output against the fp32 graph at each input size. ``--outlier-scale``
multiplies a few channels entering each Transformer by a factor, as the "massive
activations" of trained ViTs do; random weights alone have none, so without it the
numbers are a lower bound on what a trained model loses.

Example::

    python tools/analysis/fp16_accuracy.py --sizes 224x224 320x480 --outlier-scale 300
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from trtvit_dense.apis.cli import parse_size
from trtvit_dense.deploy.quantize.fp16 import FP32_OPS, convert_to_fp16
from trtvit_dense.models import TRTViT
from trtvit_dense.models.backbones.trt_vit import MixBlockC

if __package__:  # imported as tools.analysis.fp16_accuracy
    from .fp16_reference import RUNTIMES, fp16_report
else:  # run as a script: its folder is on sys.path
    from fp16_reference import RUNTIMES, fp16_report

BLOCK_LISTS: dict[str, tuple[str, ...]] = {
    'fp32-kept': FP32_OPS,  # (a) LayerNorm/Softmax/reductions/... in fp32
    'fp32-kept+erf': FP32_OPS + ('Erf', ),  # (a) and GELU's erf in fp32
    'all-fp16': (),  # (b) everything the ONNX schemas allow in fp16
}


def build_randomised_trtvit(arch: str = 'a', seed: int = 0,
                            outlier_scale: float = 0., outlier_channels: int = 4) -> nn.Module:
    """TRTViT in eval mode with random BatchNorm statistics and affine parameters
    (PyTorch's defaults make every BN an identity), optionally with
    ``outlier_channels`` channels of each MixBlockC's Transformer input scaled by
    ``outlier_scale``."""
    torch.manual_seed(seed)
    model = TRTViT(arch=arch, out_indices=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.5)
                module.running_var.uniform_(0.5, 2.)
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
        if outlier_scale:
            for module in model.modules():
                if isinstance(module, MixBlockC):
                    norm = module.proj.norm
                    norm.weight[:outlier_channels] *= outlier_scale
                    norm.bias[:outlier_channels] *= outlier_scale
    return model


def export_backbone(model: nn.Module, path: Path, size: tuple[int, int] = (224, 224)) -> None:
    """Export with a dynamic batch and spatial size (opset 17: LayerNorm is one node)."""
    x = torch.randn(1, 3, *size)
    torch.onnx.export(
        model, (x, ), str(path), dynamo=False, opset_version=17, input_names=['input'],
        dynamic_axes={'input': {0: 'batch', 2: 'height', 3: 'width'}})


def measure(fp32_path: Path, block_lists: Mapping[str, Sequence[str]],
            sizes: Sequence[tuple[int, int]], runtimes: Sequence[str],
            work_dir: Path, seed: int = 0) -> list[dict]:
    """One row per (block list, size, runtime, output) with the error of
    :func:`fp16_report` and the conversion's fp32/fp16 node counts."""
    rows = []
    rng = np.random.default_rng(seed)
    inputs = {size: rng.standard_normal((1, 3, *size)).astype(np.float32) for size in sizes}
    for name, ops in block_lists.items():
        fp16_path = work_dir / f'{fp32_path.stem}_{name}.onnx'
        stats = convert_to_fp16(fp32_path, fp16_path, keep_fp32_ops=ops)
        for size in sizes:
            for runtime in runtimes:
                report = fp16_report(fp32_path, fp16_path, inputs[size], runtime)
                for i, (output, err) in enumerate(report.items()):
                    rows.append(dict(block_list=name, size=f'{size[0]}x{size[1]}',
                                     runtime=runtime, output=f'out{i}', **err,
                                     fp16_nodes=stats['fp16_nodes'],
                                     fp32_nodes=stats['fp32_nodes']))
    return rows


def format_rows(rows: Sequence[dict]) -> str:
    header = (f'{"block list":<14} {"size":<8} {"runtime":<12} {"out":<5} {"max abs":>9} '
              f'{"mean abs":>9} {"scale":>8} {"rel":>9} {"rel mean":>9} {"nonfinite":>9}')
    lines = [header, '-' * len(header)]
    for r in rows:
        lines.append(f'{r["block_list"]:<14} {r["size"]:<8} {r["runtime"]:<12} '
                     f'{r["output"]:<5} {r["max_abs"]:>9.2e} {r["mean_abs"]:>9.2e} '
                     f'{r["scale"]:>8.3g} {r["rel"]:>9.2e} {r["rel_mean"]:>9.2e} '
                     f'{r["nonfinite"]:>9d}')
    return '\n'.join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--arch', default='a', choices=sorted(TRTViT.arch_settings))
    parser.add_argument('--sizes', nargs='+', type=parse_size,
                        default=[(224, 224), (320, 480)], help='input sizes HxW')
    parser.add_argument('--block-lists', nargs='+', default=list(BLOCK_LISTS),
                        choices=list(BLOCK_LISTS), help='fp32 op lists to compare')
    parser.add_argument('--runtimes', nargs='+', default=['reference'], choices=RUNTIMES,
                        help="fp16 runtime: 'reference' computes in fp16, ORT's CPU "
                        'provider upcasts most ops to fp32')
    parser.add_argument('--outlier-scale', type=float, default=0.,
                        help='scale of 4 outlier channels per Transformer input (0: none)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--work-dir', type=Path, help='keep the ONNX files here')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    model = build_randomised_trtvit(args.arch, args.seed, args.outlier_scale)
    with tempfile.TemporaryDirectory() as tmp:
        work_dir = args.work_dir or Path(tmp)
        work_dir.mkdir(parents=True, exist_ok=True)
        fp32_path = work_dir / f'trtvit_{args.arch}_fp32.onnx'
        export_backbone(model, fp32_path)
        rows = measure(fp32_path, {k: BLOCK_LISTS[k] for k in args.block_lists},
                       args.sizes, args.runtimes, work_dir, args.seed)
    print(format_rows(rows))


if __name__ == '__main__':
    main()
