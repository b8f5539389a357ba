#!/usr/bin/env python
"""The TRT-ViT paper's density analysis on this machine: FLOPs/latency and
params/latency of BottleNeck, Transformer and MixBlockC blocks and of the backbone's
stages at the stage resolutions of each input size, next to the measured fp32 GEMM
peak. Writes density.md, density.json and density.png into --out-dir."""
import argparse
import json
import logging

from trtvit_dense.apis.cli import parse_size
from trtvit_dense.deploy.backends import BACKENDS
from trtvit_dense.models.backbones.trt_vit import TRTViT


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--backend', default='onnxruntime',
                        choices=list(BACKENDS))
    parser.add_argument('--arch', default='a', choices=sorted(TRTViT.arch_settings),
                        help='TRT-ViT variant whose widths and stages are measured')
    parser.add_argument('--sizes', nargs='+', type=parse_size,
                        default=[(224, 224), (800, 1344)], help='input sizes HxW')
    parser.add_argument('--iters', type=int, default=10, help='timed iterations per item')
    parser.add_argument('--warmup-s', type=float, default=0.2)
    parser.add_argument('--threads', type=int,
                        help='intra-op threads of PyTorch and ONNX Runtime (default: theirs)')
    parser.add_argument('--max-attention-gib', type=float, default=4.0,
                        help='skip (and say so) attention matrices larger than this')
    parser.add_argument('--out-dir', default='work_dirs/density')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    import sys
    from pathlib import Path

    import torch
    from mmengine.logging import MMLogger

    from trtvit_dense.benchmark.density import density_table, format_density, plot_density
    from trtvit_dense.benchmark.stats import TimingSettings
    from trtvit_dense.deploy import BackendUnavailable
    from trtvit_dense.utils.atomic import atomic_write_bytes
    MMLogger.get_current_instance().setLevel(logging.ERROR)  # FLOP counter chatter
    if args.threads:
        torch.set_num_threads(args.threads)

    def show(row, seconds):
        hw = 'x'.join(map(str, row.input_hw))
        print(f'{hw} {row.item} stage {row.stage}: {row.latency_ms:.2f} ms, '
              f'{row.gflop_per_s:.1f} GFLOP/s ({seconds:.1f} s)', flush=True)

    try:
        result = density_table(args.backend, args.arch, args.sizes,
                               TimingSettings(warmup_s=args.warmup_s, iters=args.iters),
                               args.max_attention_gib, progress=show, threads=args.threads)
    except BackendUnavailable as e:
        sys.exit(f'error: {e}')
    out = Path(args.out_dir)
    text = format_density(result)
    atomic_write_bytes(out / 'density.json', json.dumps(result, indent=1).encode())
    atomic_write_bytes(out / 'density.md', text.encode())
    plot_density(result, out / 'density.png')
    print(text)
    print(f'wrote {out}/density.md, density.json, density.png')


if __name__ == '__main__':
    main()
