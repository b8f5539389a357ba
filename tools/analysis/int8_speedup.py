#!/usr/bin/env python
"""fp32 vs int8 ONNX Runtime graphs of one model: model compute at the deploy config's
opt shape on a real image, timed in alternation (fp32, int8, fp32, ...), which cancels
the drift of a shared machine. Prints one JSON line: both medians and the median of the
per-pair ratios fp32/int8 (docs/benchmark/int8_report.md)."""
import argparse
import json
import os

import numpy as np


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='the model config (its test images, preprocessing)')
    parser.add_argument('fp32_onnx', help='end2end.onnx from tools/deploy.py')
    parser.add_argument('int8_onnx', help='end2end_int8.onnx from tools/deploy.py --precision int8')
    parser.add_argument('--deploy-cfg', required=True, help='deploy config (its opt shape)')
    parser.add_argument('--pairs', type=int, default=30, help='alternated pairs')
    parser.add_argument('--threads', type=int, default=2, help='ONNX Runtime threads')
    parser.add_argument('--image', help='the picture (default: first test image)')
    return parser.parse_args(argv)


def alternated_speedup(config: str, fp32_onnx: str, int8_onnx: str, deploy_cfg: str,
                       pairs: int = 30, threads: int = 2, image: str | None = None) -> dict:
    """Median latencies of both graphs and the median ratio of alternated pairs."""
    from trtvit_dense.config import load_config
    from trtvit_dense.benchmark.stats import TimingSettings, time_interleaved
    from trtvit_dense.deploy.backends import open_backend
    from trtvit_dense.deploy.config import load_deploy_config
    from trtvit_dense.deploy.pipeline import dataset_image_paths
    from trtvit_dense.deploy.verify import load_images, make_inputs, normalization
    cfg = load_config(config)
    dcfg = load_deploy_config(deploy_cfg)
    image = image or dataset_image_paths(cfg, 1)[0]
    x = make_inputs(load_images([image]), dcfg.opt_shape, *normalization(cfg))
    graphs = [open_backend('onnxruntime', path, threads=threads)
              for path in (fp32_onnx, int8_onnx)]
    stats, (a, b) = time_interleaved([lambda g=g: g(x) and None for g in graphs],
                                     TimingSettings(warmup_s=1.0, warmup_iters=3, iters=pairs))
    ratios = sorted(p / q for p, q in zip(a, b))
    return dict(config=config, image=image, shape=list(x.shape), threads=threads,
                loadavg=list(os.getloadavg()), fp32_median_ms=stats[0].median_ms,
                int8_median_ms=stats[1].median_ms, fp32_over_int8=float(np.median(ratios)),
                pair_range=[ratios[0], ratios[-1]], pairs=len(ratios))


def main(argv=None):
    args = parse_args(argv)
    import trtvit_dense  # noqa: F401  (registers TRT-ViT)
    print(json.dumps(alternated_speedup(args.config, args.fp32_onnx, args.int8_onnx,
                                        args.deploy_cfg, args.pairs, args.threads,
                                        args.image)))


if __name__ == '__main__':
    main()
