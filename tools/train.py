#!/usr/bin/env python
"""Train a detector (mmdet config), segmentor (mmseg config) or classifier (mmpretrain
config); flags as mmdet/mmseg/mmpretrain."""
import argparse
import sys

from trtvit_dense.apis import load_config, prepare_train_config, release_process_group, train
from trtvit_dense.apis.cli import add_runner_arguments, parse_runner_args, user_errors


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--amp', action='store_true',
                        help='enable automatic-mixed-precision training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate with the total batch size')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or, without a value, from the latest '
        'checkpoint in the work dir')
    parser.add_argument('--backbone-weights', metavar='PATH|imagenet',
                        help='initialise the backbone from this checkpoint: an mmpretrain '
                        'classifier, a bare backbone state dict or a whole model; every '
                        'backbone weight must be in it (key prefix found automatically). '
                        "'imagenet': the backbone's published ImageNet weights (timm's "
                        "for Next-ViT, torchvision's for R50; docs/pretrained.md)")
    parser.add_argument('--backbone-prefix', metavar='PREFIX',
                        help="key prefix of the backbone in --backbone-weights, e.g. "
                        "'backbone.' (default: found automatically)")
    add_runner_arguments(parser)
    return parse_runner_args(parser, argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        cfg = load_config(args.config, args.cfg_options)
        prepare_train_config(cfg, args.config, work_dir=args.work_dir, resume=args.resume,
                             amp=args.amp, auto_scale_lr=args.auto_scale_lr,
                             launcher=args.launcher,
                             backbone_weights=args.backbone_weights,
                             backbone_prefix=args.backbone_prefix)
        train(cfg)
    except user_errors() as e:
        sys.exit(f'error: {e}')
    finally:
        release_process_group()


if __name__ == '__main__':
    main()
