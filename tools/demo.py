#!/usr/bin/env python
"""The one-command demo on toy data (``make demo``): tools/compare.py on the embedded toy
datasets. Generate them, check them, write configs, train Mask R-CNN, RetinaNet and
UPerNet with TRT-ViT-A and ResNet-50, deploy each to dynamic ONNX, verify it, and
evaluate and time PyTorch and ONNX Runtime on the same images.
With --pretrain, both backbones are first pretrained on the toy ImageNet (the classifiers'
own report goes to <work-dir>/pretrain) and every model is fine-tuned from them.

Writes <work-dir>/report.md, report.json, report.csv and pareto.png. Re-running reuses
finished steps (datasets, trained models, deployed graphs, measurements); delete
<work-dir> to start afresh.
"""
import argparse
import logging
import os
import sys
import time
import warnings


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--work-dir',
                        help='where trained models, deployed graphs and the report go '
                        '(default: work_dirs/demo)')
    parser.add_argument('--jobs', type=int, default=min(2, os.cpu_count() or 1),
                        help='models trained at once (default: 2, or 1 on a single core)')
    parser.add_argument('--pretrain', action='store_true',
                        help='first pretrain both backbones on the toy ImageNet and fine-tune '
                        'every model from them (over twice the demo\'s time on 2 cores, see '
                        'docs/classification.md); default '
                        'work dir work_dirs/demo_pretrained')
    parser.add_argument('--no-progress', action='store_true', help='no progress bars')
    args = parser.parse_args(argv)
    if args.work_dir is None:
        args.work_dir = 'work_dirs/demo_pretrained' if args.pretrain else 'work_dirs/demo'
    return args


def main(argv=None):
    args = parse_args(argv)
    # mmengine imports pkg_resources on every import of its utils; say it once, not per model
    warnings.filterwarnings('ignore', message='pkg_resources is deprecated')
    import trtvit_dense  # noqa: F401  (registers TRT-ViT, safe checkpoint loading)
    from trtvit_dense.apis.cli import user_errors
    from trtvit_dense.apis.compare import CompareStepError
    from trtvit_dense.apis.demo import TrainingError, demo_benchmark_options, run_demo
    from trtvit_dense.datasets import DataError
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    logging.getLogger('mmengine').setLevel(logging.WARNING)
    start = time.perf_counter()
    try:
        # the toy configs read data/toy_coco, data/toy_ade and data/toy_imagenet
        # (relative to the repository)
        result = run_demo(args.work_dir, 'data',
                          options=demo_benchmark_options(progress=not args.no_progress),
                          jobs=args.jobs, pretrain=args.pretrain)
    except (TrainingError, DataError, CompareStepError, *user_errors()) as e:
        sys.exit(f'error: {e}')
    wall = time.perf_counter() - start
    print(result.reports['md'].read_text())
    print(f'demo finished in {wall / 60:.1f} min')
    print('report: ' + ', '.join(str(p) for p in result.reports.values()))
    first = next(t for t in result.train if not t['name'].startswith('classifier'))
    onnx = next((r['model_file'] for r in result.rows
                 if r['name'] == first['name'] and r['backend'] == 'onnxruntime'), None)
    print('next: run a trained model (the checkpoint, or its ONNX file '
          f'{onnx}) on images, folders or globs:\n'
          f"  python tools/infer.py {first['config']} {first['checkpoint']} "
          'data/toy_coco/val --out-dir work_dirs/infer\n'
          'the same comparison on your own data:\n'
          '  python tools/compare.py --ann-file train.json --images IMAGES/ '
          '[--val-ann-file val.json]\n'
          'and see README.md for training, deploying and benchmarking on COCO / ADE20K.')
    if result.misses:
        sys.exit('error: accuracy targets missed: ' + '; '.join(result.misses))


if __name__ == '__main__':
    main()
