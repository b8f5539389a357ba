#!/usr/bin/env python
"""Generate the toy COCO, ADE20K and ImageNet datasets (<out-dir>/toy_coco, toy_ade,
toy_imagenet).

A dataset already generated with the same seed, counts and generator version is kept;
--force regenerates it.
"""
import argparse
import json
import sys
import time
from pathlib import Path

from trtvit_dense.datasets import (DEFAULT_IMAGE_SIZE, DEFAULT_NUM_TRAIN, DEFAULT_NUM_VAL,
                                   TOY_DATASETS, ensure_toy_dataset)

KINDS = tuple(TOY_DATASETS)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--out-dir', default='data', help='parent of toy_coco/, toy_ade/ and toy_imagenet/')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--num-train', type=int, default=DEFAULT_NUM_TRAIN,
                        help='training images per dataset')
    parser.add_argument('--num-val', type=int, default=DEFAULT_NUM_VAL,
                        help='validation images per dataset')
    parser.add_argument('--image-size', type=int, nargs=2, metavar=('MIN', 'MAX'),
                        default=DEFAULT_IMAGE_SIZE,
                        help='range of image heights and widths in pixels')
    parser.add_argument('--only', choices=KINDS, help='generate one dataset only')
    parser.add_argument('--force', action='store_true',
                        help='regenerate even if the dataset is up to date')
    return parser.parse_args()


def main():
    args = parse_args()
    params = dict(seed=args.seed, num_train=args.num_train, num_val=args.num_val,
                  image_size=tuple(args.image_size))
    for kind in [args.only] if args.only else KINDS:
        out_dir = Path(args.out_dir) / f'toy_{kind}'
        start = time.perf_counter()
        try:
            summary, generated = ensure_toy_dataset(out_dir, kind, force=args.force, **params)
        except ValueError as error:
            sys.exit(f'error: {error}')
        if generated:
            print(f'{out_dir}: generated in {time.perf_counter() - start:.1f} s')
        else:
            print(f'{out_dir}: up to date (same seed, counts and generator version), '
                  'skipping; --force regenerates')
        print(json.dumps(summary, indent=2, sort_keys=True))


if __name__ == '__main__':
    main()
