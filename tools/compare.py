#!/usr/bin/env python
"""TRT-ViT against ResNet-50 on your dataset, in one command: check the data, write
configs for it, train, deploy, verify, evaluate and time every model, and report.

  # detection / instance segmentation: a COCO instances JSON and its images
  tools/compare.py --ann-file train.json [--val-ann-file val.json] --images imgs/
  # semantic segmentation: images/, labels/ and classes.txt (or the ADE20K layout)
  tools/compare.py --task segmentation --data-root my_seg/
  # classification: train/ and val/ with one folder per class (ImageNet layout)
  tools/compare.py --task classification --data-root my_cls/

Writes <work-dir>/configs/ (one readable config per model and the deploy config, for
tools/train.py, test.py, deploy.py), trained models, deployed graphs and report.md /
report.json / report.csv / pareto.png. Re-running reuses every finished step.
--check-only stops after the data check and the configs: it prints what the full run
would do and the time it expects on this machine (<work-dir>/plan.md).

Every defect of the data is repaired or dropped and said, or refused in one line,
before anything trains (docs/compare.md lists the rules). A failure of any step is one
"error:" line naming the step, the cause and the log; --debug shows the traceback.
"""
import argparse
import logging
import os
import sys
import warnings

from mmengine.config import DictAction

from trtvit_dense.datasets.user import TASKS
from trtvit_dense.models.zoo import BACKBONES, FAMILIES


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    data = parser.add_argument_group('the dataset')
    data.add_argument('--task', choices=TASKS,
                      help='default: detection with --ann-file, else give it')
    data.add_argument('--ann-file', help='detection: COCO instances JSON (split into train/'
                      'val unless --val-ann-file is given)')
    data.add_argument('--images', help='detection: the folder of its images')
    data.add_argument('--val-ann-file', help='detection: a separate validation JSON')
    data.add_argument('--val-images', help='detection: its image folder (default: --images)')
    data.add_argument('--data-root', help='segmentation / classification: the dataset folder')
    data.add_argument('--classes', help='segmentation (ADE20K layout) / classification '
                      '(meta/ lists): the class list, one name per line')
    data.add_argument('--val-fraction', type=float, default=0.2,
                      help='share of the images held out for validation when the data has '
                      'no validation split (default: 0.2)')
    models = parser.add_argument_group('the models')
    models.add_argument('--models', nargs='+', choices=list(FAMILIES),
                        help="detectors/segmentor/classifier (default: the task's: Mask "
                        'R-CNN with masks, else RetinaNet; UPerNet; the classifier)')
    models.add_argument('--backbones', nargs='+', default=['trtvit-a', 'r50'],
                        choices=list(BACKBONES),
                        help='default: trtvit-a r50 (r50-v1c: the ResNetV1c-50 of the '
                        'segmentors and its classifier)')
    models.add_argument('--backbone-weights', nargs='+', default=[],
                        metavar='BACKBONE=PATH|imagenet',
                        help='pretrained weights per backbone, e.g. nextvit-s=imagenet '
                        'r50=imagenet (the published ImageNet weights, from the cache '
                        'folder, docs/pretrained.md) trtvit-a=cls_a.pth '
                        'r50=cls_r50.pth (r50-v1c=... for the UPerNet R50); default: scratch')
    models.add_argument('--recipe', choices=('full', 'toy'), default='full',
                        help="full: the COCO/ADE20K/ImageNet configs, scale and schedule "
                        "derived from the data; toy: the demo's fast CPU configs")
    models.add_argument('--epochs', type=int, help='override the derived schedule '
                        '(segmentation: epochs worth of iterations)')
    models.add_argument('--image-scale', type=int, nargs=2, metavar=('LONG', 'SHORT'),
                        help='override the derived resize scale')
    models.add_argument('--train-subset', type=int, metavar='N',
                        help='train on the first N training images only (a smoke run)')
    run = parser.add_argument_group('the run')
    run.add_argument('--backends', nargs='+', default=['pytorch', 'onnxruntime'])
    run.add_argument('--precisions', nargs='+', default=['fp32'])
    run.add_argument('--quantizers', nargs='+', default=[],
                     help='int8 rows: one per quantizer (modelopt, onnxruntime; default: '
                     "the backend's), calibrated on 32 training images")
    run.add_argument('--device', default='cpu')
    run.add_argument('--warmup-s', type=float, default=0.2,
                     help='timing: warm-up seconds per measurement (as tools/benchmark.py)')
    run.add_argument('--iters', type=int, default=10,
                     help='timing: timed iterations per measurement (as tools/benchmark.py)')
    run.add_argument('--num-images', type=int,
                     help='evaluate and time on the first N validation images (default: all)')
    run.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                     help='override settings of every written config when evaluating and '
                     'timing (e.g. model.test_cfg.score_thr=0.0 for a barely trained model)')
    run.add_argument('--gpus', type=int, default=1,
                     help='train each model with torchrun on this many GPUs')
    run.add_argument('--jobs', type=int, default=min(2, os.cpu_count() or 1),
                     help='models trained at once on a CPU (default: 2)')
    run.add_argument('--work-dir', default='work_dirs/compare')
    run.add_argument('--no-progress', action='store_true', help='no progress bars')
    run.add_argument('--check-only', action='store_true',
                     help='check the data and write the configs, print the plan and the '
                     'time it expects (one measured step per model), then stop')
    run.add_argument('--debug', action='store_true',
                     help='show the traceback of a failure (default: one error line)')
    args = parser.parse_args(argv)
    if args.task is None:
        if not args.ann_file:
            parser.error('give --ann-file (detection) or --task with --data-root')
        args.task = 'detection'
    weights = {}
    for item in args.backbone_weights:
        key, sep, path = item.partition('=')
        if not sep or not path:
            parser.error(f'--backbone-weights takes BACKBONE=PATH or BACKBONE=imagenet, got '
                         f'{item!r}')
        weights[key] = path
    args.backbone_weights = weights
    return args


def main(argv=None):
    args = parse_args(argv)
    warnings.filterwarnings('ignore', message='pkg_resources is deprecated')
    import trtvit_dense  # noqa: F401  (registers TRT-ViT, safe checkpoint loading)
    from trtvit_dense.apis.cli import user_errors
    from trtvit_dense.apis.compare import CompareStepError, DataSpec, run_compare
    from trtvit_dense.apis.training import TrainingError
    from trtvit_dense.benchmark import BenchmarkOptions, TimingSettings
    from trtvit_dense.datasets import DataError
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    logging.getLogger('mmengine').setLevel(logging.WARNING)
    spec = DataSpec(args.task, ann_file=args.ann_file, images=args.images,
                    val_ann_file=args.val_ann_file, val_images=args.val_images,
                    root=args.data_root, classes_file=args.classes,
                    val_fraction=args.val_fraction)
    try:
        options = BenchmarkOptions(backends=tuple(args.backends),
                                   precisions=tuple(args.precisions), device=args.device,
                                   quantizers=tuple(args.quantizers),
                                   num_images=args.num_images, progress=not args.no_progress,
                                   cfg_options=args.cfg_options,
                                   timing=TimingSettings(warmup_s=args.warmup_s,
                                                         iters=args.iters))
        result = run_compare([(spec, args.models)], args.work_dir, tuple(args.backbones),
                             args.recipe, args.backbone_weights, options, jobs=args.jobs,
                             gpus=args.gpus, epochs=args.epochs, scale=args.image_scale,
                             train_subset=args.train_subset, check_only=args.check_only)
    except (DataError, TrainingError, CompareStepError, *user_errors()) as e:
        if args.debug:
            raise
        sys.exit(f'error: {e}')
    if args.check_only:
        print(result.plan)
        print(f"plan: {result.reports['plan']}; configs: {os.path.join(args.work_dir, 'configs')}"
              '; run the same command without --check-only to train')
        return
    print(result.reports['md'].read_text())
    print('report: ' + ', '.join(str(p) for p in result.reports.values()))


if __name__ == '__main__':
    main()
