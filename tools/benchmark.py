#!/usr/bin/env python
"""Latency next to box/mask mAP, mIoU and top-1/top-5: one row per model x backend x
precision.

Each row times the backend like trtexec (warm-up, then N iterations: mean, median, p90,
p95, p99, min, max, throughput) for the model compute alone and end to end (decode,
pre-processing, model, post-processing) at the deploy profile's opt shape, then runs the
dataset split through the same backend for accuracy (mmdet/mmseg/mmpretrain evaluators) and
end-to-end latency at the images' own shapes. Writes report.json, report.csv,
report.md and pareto.png into --work-dir; finished measurements are cached there, so
running the same command again only measures what is missing.

  tools/benchmark.py --model CONFIG [CHECKPOINT|MODEL.onnx|MODEL.engine] ...
  tools/benchmark.py --compare retinanet [--checkpoint-dir DIR]
  tools/benchmark.py --compare imagenet --batch 8   (the paper's classification timing)
"""
import argparse
import logging
import sys

from mmengine.config import DictAction

from trtvit_dense.benchmark.compare import BACKBONES, FAMILIES
from trtvit_dense.deploy.backends import BACKENDS, DEVICES
from trtvit_dense.deploy.precision import PRECISIONS, precision_label
from trtvit_dense.deploy.quantize.quantizers import QUANTIZERS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', nargs='+', action='append', default=[],
                        metavar=('CONFIG', 'MODEL'),
                        help='a model config and optionally its checkpoint, ONNX file or '
                        'engine (no file: seeded random weights, for latency); repeat the '
                        'flag for more models')
    parser.add_argument('--compare', choices=list(FAMILIES),
                        help='benchmark every backbone of the registry (TRT-ViT a-d, '
                        'Next-ViT s/b/l) against ResNet-50 under this detector/segmentor '
                        '(or as ImageNet classifiers) and print latency ratios next to '
                        'accuracy differences')
    parser.add_argument('--archs', nargs='+', default=None,
                        help='backbones for --compare (default: ' + ' '.join(BACKBONES)
                        + '; R50 is always added)')
    parser.add_argument('--checkpoint-dir',
                        help='for --compare: checkpoints named <config name>.pth')
    parser.add_argument('--backends', nargs='+', default=['pytorch', 'onnxruntime'],
                        choices=list(BACKENDS))
    parser.add_argument('--precisions', nargs='+', default=['fp32'], choices=PRECISIONS,
                        help='precisions of the deployed rows (PyTorch rows are fp32)')
    parser.add_argument('--calib-data',
                        help='int8 rows: calibration images, a folder or a split of each '
                        'model config (train, val, test; default: train)')
    parser.add_argument('--calib-num', type=int,
                        help='int8 rows: number of calibration images (default: 32)')
    parser.add_argument('--quantizers', nargs='+', default=[], choices=list(QUANTIZERS),
                        help='int8 rows: one per quantizer, side by side (default: the '
                        "backend's, modelopt for tensorrt and onnxruntime for onnxruntime)")
    parser.add_argument('--deploy-cfg', nargs='+', default=[],
                        help='deploy configs (profile, export options), at most one per '
                        'task; default: configs/deploy/*_dynamic-* of the full-size models')
    parser.add_argument('--batch', type=int,
                        help='also time the model compute at this batch (opt height/width):'
                        ' throughput and per-image latency; must lie in the deploy '
                        "profile's batch range (the paper times classifiers at 8)")
    parser.add_argument('--split', default='test', choices=['test', 'val'])
    parser.add_argument('--num-images', type=int,
                        help='run the first N images of the split (default: all)')
    parser.add_argument('--warmup-s', type=float, default=0.2, help='warm-up seconds (min)')
    parser.add_argument('--warmup-iters', type=int, default=1, help='warm-up calls (min)')
    parser.add_argument('--iters', type=int, default=10, help='timed iterations (min)')
    parser.add_argument('--duration', type=float, default=0.0,
                        help='timed seconds (min), as trtexec --duration')
    parser.add_argument('--threads', type=int,
                        help='intra-op threads for PyTorch and ONNX Runtime (default: '
                        'their defaults)')
    parser.add_argument('--device', default='cpu', choices=list(DEVICES))
    parser.add_argument('--with-static', action='store_true',
                        help='also export a static graph at the opt shape and time it '
                        '(dynamic vs static)')
    parser.add_argument('--paired', action='store_true',
                        help='also time PyTorch and each deployed row end to end in '
                        'alternation (the speed-up least affected by machine drift)')
    parser.add_argument('--static-iters', type=int,
                        help='alternations of --paired and --with-static (default: '
                        '--iters); small differences need more samples')
    parser.add_argument('--no-verify', action='store_true',
                        help='deploy without comparing against PyTorch')
    parser.add_argument('--no-cache', action='store_true',
                        help='measure everything again (results are still written)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bars')
    parser.add_argument('--work-dir', default='work_dirs/benchmark',
                        help='reports, cache and deployed models go here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of every model config (key=value), e.g. '
                        'the test data paths')
    args = parser.parse_args(argv)
    for spec in args.model:
        if len(spec) > 2:
            parser.error(f'--model takes CONFIG [MODEL], got {spec}')
    if not args.model and not args.compare:
        parser.error('give --model CONFIG [MODEL] (repeatable) or --compare TASK')
    return args


def main(argv=None):
    args = parse_args(argv)
    import trtvit_dense  # noqa: F401  (registers TRT-ViT, safe checkpoint loading)
    from trtvit_dense.benchmark import (BACKBONES, BenchmarkError, BenchmarkOptions,
                                        ModelSpec, TimingSettings, compare_specs,
                                        compare_table, run_benchmark, write_reports)
    from trtvit_dense.utils.markdown import markdown_table
    from trtvit_dense.benchmark.report import accuracy_text
    from trtvit_dense.apis.cli import user_errors
    from trtvit_dense.deploy.config import load_deploy_config
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    logging.getLogger('mmengine').setLevel(logging.WARNING)
    try:
        specs = [ModelSpec(*m) for m in args.model]
        if args.compare:
            specs += compare_specs(args.compare, tuple(args.archs or BACKBONES),
                                   args.checkpoint_dir)
        deploy_cfgs = {}
        for path in args.deploy_cfg:
            task = load_deploy_config(path).task
            if task in deploy_cfgs:
                raise BenchmarkError(f'two deploy configs for {task}: {deploy_cfgs[task]} '
                                     f'and {path}; give one per task')
            deploy_cfgs[task] = path
        options = BenchmarkOptions(
            backends=tuple(args.backends), precisions=tuple(args.precisions),
            deploy_configs=deploy_cfgs, split=args.split, num_images=args.num_images,
            timing=TimingSettings(warmup_s=args.warmup_s, warmup_iters=args.warmup_iters,
                                  iters=args.iters, min_duration_s=args.duration),
            threads=args.threads, device=args.device, verify=not args.no_verify,
            with_static=args.with_static, paired=args.paired,
            static_iters=args.static_iters,
            cfg_options=args.cfg_options, calib_data=args.calib_data,
            calib_num=args.calib_num, quantizers=tuple(args.quantizers), batch=args.batch,
            use_cache=not args.no_cache, progress=not args.no_progress)

        def show(row):
            print(f"{row['name']} {row['backend']} "
                  f"{precision_label(row['precision'], row.get('quantizer'))}: compute "
                  f"{row['compute_opt']['mean_ms']:.1f} ms, e2e {row['e2e_opt']['mean_ms']:.1f} "
                  f"ms at {'x'.join(map(str, row['e2e_opt']['shape']))}; {accuracy_text(row)}",
                  flush=True)

        rows = run_benchmark(specs, args.work_dir, options, on_row=show)
        extra = ''
        if args.compare:
            extra = '## TRT-ViT vs ResNet-50\n\n' + compare_table(rows)
        paired = [r for r in rows if 'paired' in r]
        if paired:
            extra += '\n\n' + markdown_table(
                ['model', 'backend', 'prec', 'PyTorch median ms', 'backend median ms',
                 'speed-up (median of pairs)', 'pair range'],
                [[r['name'], r['backend'], r['precision'],
                  f"{r['paired']['pytorch']['median_ms']:.1f}",
                  f"{r['paired']['backend']['median_ms']:.1f}",
                  f"{r['paired']['speedup_e2e']:.2f}x",
                  '{:.2f}-{:.2f}'.format(*r['paired']['pair_ratio_range'])] for r in paired],
                title='PyTorch eager vs deployed, end to end at the opt shape, timed in '
                'alternation')
        static = [r for r in rows if 'static' in r]
        if static:
            extra += '\n\n' + markdown_table(
                ['model', 'backend', 'dynamic median ms', 'static median ms',
                 'dynamic/static (median of pairs)', 'pair range'],
                [[r['name'], r['backend'], f"{r['static']['dynamic']['median_ms']:.1f}",
                  f"{r['static']['static']['median_ms']:.1f}",
                  f"{r['static']['dynamic_over_static']:.3f}",
                  '{:.3f}-{:.3f}'.format(*r['static']['pair_ratio_range'])] for r in static],
                title='Dynamic vs static graph (model compute at the opt shape, timed in '
                'alternation)')
        paths = write_reports(rows, args.work_dir, extra_md=extra.strip())
    except user_errors() as e:
        sys.exit(f'error: {e}')
    print(paths['md'].read_text())
    print('reports: ' + ', '.join(str(p) for p in paths.values()))


if __name__ == '__main__':
    main()
