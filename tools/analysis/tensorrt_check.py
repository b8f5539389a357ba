#!/usr/bin/env python
"""The TensorRT acceptance run, for a CUDA machine with TensorRT: the demo's three
TRT-ViT-A models deployed to fp32/fp16/int8 engines (int8 Q/DQ by ModelOpt), each
verified against PyTorch at every profile shape, scored with its evaluator and timed
next to PyTorch, int8 kept per model only where it beats fp16; one report (work dir
report.md/.json, engines.json). Exits non-zero on any mismatch or past the time budget, and
at once (nothing written) without TensorRT or a GPU. See docs/tensorrt.md."""
import argparse
import sys

from trtvit_dense.deploy.precision import PRECISIONS
from trtvit_dense.deploy.quantize.quantizers import QUANTIZERS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--work-dir', default='work_dirs/tensorrt_check')
    parser.add_argument('--precisions', nargs='+', default=list(PRECISIONS),
                        choices=PRECISIONS)
    parser.add_argument('--demo-dir', default='work_dirs/demo',
                        help="where `make demo` trained the models (their checkpoints are "
                        'used when present, else seeded random weights)')
    parser.add_argument('--quantizer', choices=list(QUANTIZERS),
                        help='who places the int8 engines\' Q/DQ nodes (default: modelopt, '
                        "TensorRT's default; docs/quantization.md)")
    parser.add_argument('--budget-min', type=float, default=10.0,
                        help='fail when the whole run takes longer')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from trtvit_dense.apis.cli import user_errors
    from trtvit_dense.apis.tensorrt_check import CheckFailed, run_tensorrt_check
    try:
        run_tensorrt_check(args.work_dir, args.precisions, args.demo_dir,
                           budget_s=args.budget_min * 60, quantizer=args.quantizer)
    except (CheckFailed, *user_errors()) as e:
        sys.exit(f'error: {e}')


if __name__ == '__main__':
    main()
