#!/usr/bin/env python
"""Evaluate a checkpoint, or a model deployed by tools/deploy.py (.onnx, .engine), on
the test split of an mmdet or mmseg config (box/mask mAP, mIoU); flags as mmdet/mmseg."""
import argparse
import sys

from trtvit_dense.apis import load_config, prepare_test_config, release_process_group, test
from trtvit_dense.apis.cli import add_runner_arguments, parse_runner_args, user_errors
from trtvit_dense.deploy.backends import BACKENDS, DEVICES, backend_of


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file, or a deployed model (.onnx '
                        'for onnxruntime, .engine for tensorrt) made by tools/deploy.py')
    parser.add_argument('--work-dir', help='the dir to save the evaluation metrics')
    parser.add_argument('--out', help='dump predictions: a .pkl file (detection) or a '
                        'folder of label PNGs (segmentation)')
    parser.add_argument('--show-dir', help='save painted predictions to this folder')
    parser.add_argument('--backend', choices=list(BACKENDS),
                        help='what runs the model (default: from the file suffix)')
    parser.add_argument('--device', default='cpu', choices=list(DEVICES),
                        help='ONNX Runtime execution provider (cuda: CUDA, then CPU)')
    add_runner_arguments(parser)
    return parse_runner_args(parser, argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        cfg = load_config(args.config, args.cfg_options)
        prepare_test_config(cfg, args.config, args.checkpoint, work_dir=args.work_dir,
                            show_dir=args.show_dir, out=args.out, launcher=args.launcher)
        backend = args.backend or backend_of(args.checkpoint)
        test(cfg, out=args.out, backend=backend, device=args.device)
    except user_errors() as e:
        sys.exit(f'error: {e}')
    finally:
        release_process_group()


if __name__ == '__main__':
    main()
