#!/usr/bin/env python
"""Print params, GMACs and output shapes of the TRT-ViT variants (mmengine analysis)."""
import argparse
import logging

from mmengine.logging import MMLogger

from trtvit_dense.apis.cli import parse_size
from trtvit_dense.models.complexity import format_variant_table, variant_table


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--archs', nargs='+', default=['a', 'b', 'c', 'd'],
                        choices=['a', 'b', 'c', 'd'], help='variants to analyse')
    parser.add_argument('--sizes', nargs='+', type=parse_size,
                        default=[(224, 224), (800, 1344)], help='input sizes HxW')
    return parser.parse_args()


def main():
    args = parse_args()
    # The FLOP counter warns once per op it does not count (softmax, GELU, add, ...).
    MMLogger.get_current_instance().setLevel(logging.ERROR)
    print(format_variant_table(variant_table(args.archs, args.sizes)))


if __name__ == '__main__':
    main()
