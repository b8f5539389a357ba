#!/usr/bin/env python
"""Train a config for its (fixed) schedule, evaluate, and report wall time, iterations/s
and the reached metric against a target. A benchmark, not a test: it takes minutes.

Example (the toy Mask R-CNN target of the train/eval issue):
    python tools/make_toy_data.py
    python tools/analysis/train_benchmark.py configs/toy/mask-rcnn_trtvit-a_fpn_toy.py \\
        --metric coco/bbox_mAP --target 0.5 --budget-min 20
"""
import argparse
import json
import sys
from pathlib import Path

from mmengine.config import DictAction


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('--work-dir', help='default: work_dirs/train_benchmark/<config>')
    parser.add_argument('--metric', default='coco/bbox_mAP', help='metric to report')
    parser.add_argument('--target', type=float, default=0.5, help='metric target')
    parser.add_argument('--budget-min', type=float, default=20.,
                        help='wall-time budget of the training in minutes')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def main():
    args = parse_args()
    from trtvit_dense.apis import ConfigError, load_config, prepare_train_config
    from trtvit_dense.apis.runner import benchmark_training
    work_dir = args.work_dir or str(Path('work_dirs/train_benchmark') / Path(args.config).stem)
    try:
        cfg = load_config(args.config, args.cfg_options)
        prepare_train_config(cfg, args.config, work_dir=work_dir)
        result = benchmark_training(cfg)
    except ConfigError as e:
        sys.exit(f'error: {e}')
    value = result['metrics'].get(args.metric)
    if value is None:
        sys.exit(f'error: metric {args.metric!r} not among {sorted(result["metrics"])}')
    report = dict(config=args.config, train_min=round(result['train_s'] / 60, 2),
                  iters=result['iters'], iters_per_s=round(result['iters_per_s'], 3),
                  metric=args.metric, value=value, target=args.target,
                  budget_min=args.budget_min,
                  met=bool(value >= args.target and result['train_s'] <= 60 * args.budget_min))
    Path(work_dir, 'train_benchmark.json').write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == '__main__':
    main()
