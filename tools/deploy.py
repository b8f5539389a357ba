#!/usr/bin/env python
"""Export an mmdet/mmseg model end to end to ONNX (dynamic batch/height/width as the
deploy config's profile says), check it, optionally convert it to fp16 or quantize it
to int8 (QDQ, calibrated on --calib-data) and build a TensorRT engine, verify the
backend against PyTorch at every verification shape and write a manifest.

Exits non-zero when verification fails."""
import argparse
import sys

from mmengine.config import DictAction

from trtvit_dense.deploy.backends import BACKENDS, DEVICES
from trtvit_dense.deploy.precision import PRECISIONS
from trtvit_dense.deploy.quantize.quantizers import QUANTIZERS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='model config (mmdet, mmseg or mmpretrain)')
    parser.add_argument('checkpoint', help='checkpoint of that model')
    parser.add_argument('--deploy-cfg', required=True,
                        help='deploy config with the shape profile (configs/deploy/)')
    parser.add_argument('--work-dir', required=True, help='folder for the outputs')
    parser.add_argument('--backend', default='onnxruntime',
                        choices=[name for name, entry in BACKENDS.items() if entry.deployed])
    parser.add_argument('--precision', default='fp32', choices=PRECISIONS)
    parser.add_argument('--calib-data',
                        help='int8: calibration images, a folder or a split of the config '
                        '(train, val, test)')
    parser.add_argument('--calib-num', type=int,
                        help='int8: number of calibration images, spread over --calib-data '
                        '(default: 32)')
    parser.add_argument('--quantizer', choices=list(QUANTIZERS),
                        help='int8: who places the Q/DQ nodes (default: modelopt for '
                        'tensorrt, onnxruntime for onnxruntime; docs/quantization.md)')
    parser.add_argument('--device', default='cpu', choices=list(DEVICES))
    parser.add_argument('--images', nargs='+',
                        help='images or folders for verification (default: the first '
                        'images of the config\'s test dataset)')
    parser.add_argument('--no-verify', action='store_true',
                        help='skip the comparison against PyTorch')
    parser.add_argument('--threads', type=int, help='ONNX Runtime intra-op threads')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override model config settings (key=value)')
    parser.add_argument('--deploy-options', nargs='+', action=DictAction,
                        help='override deploy config settings (key=value)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from trtvit_dense.apis.cli import user_errors
    from trtvit_dense.deploy.pipeline import deploy
    from trtvit_dense.deploy.verify import format_table
    try:
        result = deploy(args.config, args.checkpoint, args.deploy_cfg, args.work_dir,
                        backend=args.backend, precision=args.precision, device=args.device,
                        verify=not args.no_verify, images=args.images,
                        cfg_options=args.cfg_options, deploy_options=args.deploy_options,
                        num_threads=args.threads, calib_data=args.calib_data,
                        calib_num=args.calib_num, quantizer=args.quantizer)
    except user_errors() as e:
        sys.exit(f'error: {e}')
    print(f"exported {result.onnx} in {result.export['seconds']:.1f} s "
          f"({result.export['num_nodes']} nodes, opset {result.export['opset']}, "
          f"dynamic: {result.export['dynamic_axes'].get('input', {}) or 'none'})")
    errors = [i for i in result.lint if i.severity == 'error']
    print(f'TensorRT lint: {len(errors)} errors, {len(result.lint) - len(errors)} warnings')
    if 'int8' in result.export:
        q = result.export['int8']
        print(f"int8 by {q['quantizer']} for {q['target']} ({q['activations']} activations, "
              f"{q['weights']} weights, float part {q['float_precision']}) calibrated on "
              f"{q['calibration']['images']} images of {q['calibration']['source']}; "
              'quantized ' + ', '.join(f'{op} {n}' for op, n in q['quantized'].items())
              + f"; {q['qdq_nodes']['quantize']} Q/DQ pairs before "
              + ', '.join(f'{n} {op}' for op, n in q['int8_inputs'].items()))
    for key, path in result.files.items():
        print(f'{key}: {path}')
    print(f'manifest: {result.manifest}')
    if not result.verify:
        print('verification skipped (--no-verify)')
        return
    print(format_table(result.task, result.verify, args.backend))
    if args.precision == 'int8':
        from trtvit_dense.deploy.quantize.int8 import INT8_TOLERANCES
        from trtvit_dense.tasks import get_task
        print('int8 tolerances: '
              + get_task(result.task).deploy.describe_tolerances(INT8_TOLERANCES))
    if not result.passed:
        sys.exit('error: verification against PyTorch failed (see the table)')
    print('verification passed at all shapes')


if __name__ == '__main__':
    main()
