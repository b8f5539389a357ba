#!/usr/bin/env python
"""Predict on your own images with a checkpoint, an ONNX file (ONNX Runtime) or a
TensorRT engine: writes each image with its predictions painted, segmentation label
maps, and all predictions in predictions.json (see docs/infer.md)."""
import argparse
import sys

from mmengine.config import DictAction

from trtvit_dense.apis.cli import user_errors
from trtvit_dense.apis.inference import run_inference
from trtvit_dense.deploy.backends import BACKENDS, DEVICES


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='mmdet or mmseg config file')
    parser.add_argument('model', help='checkpoint (.pth), or a model deployed by '
                        'tools/deploy.py (.onnx for onnxruntime, .engine for tensorrt)')
    parser.add_argument('images', nargs='+', help='image files, folders (the images '
                        'directly inside) or quoted glob patterns ("photos/**/*.jpg")')
    parser.add_argument('--backend', choices=list(BACKENDS),
                        help='what runs the model (default: from the file suffix)')
    parser.add_argument('--out-dir', help='where the painted PNGs and predictions.json '
                        'go (default: work_dirs/infer/<config name>)')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='draw detections scoring above this (the JSON has all)')
    parser.add_argument('--device', default='cpu', choices=list(DEVICES),
                        help='PyTorch device, ONNX Runtime provider (cuda: CUDA, then CPU)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value (as mmdet/mmseg)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        summary = run_inference(args.config, args.model, args.images, out_dir=args.out_dir,
                                backend=args.backend, device=args.device,
                                score_thr=args.score_thr, cfg_options=args.cfg_options)
    except user_errors() as e:
        sys.exit(f'error: {e}')
    done, failed = len(summary['images']), summary['failed']
    print(f'{done} image{"" if done == 1 else "s"} predicted ({summary["backend"]}): '
          f'painted PNGs in {summary["out_dir"]}, predictions in '
          f'{summary["predictions_file"]}')
    if failed:
        names = ', '.join(f['image'] for f in failed)
        sys.exit(f'error: {len(failed)} of {summary["num_inputs"]} images could not be '
                 f'read or predicted (listed under "failed" in predictions.json): {names}')


if __name__ == '__main__':
    main()
