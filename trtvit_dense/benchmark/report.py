"""Benchmark reports: ``report.json`` (everything), ``report.csv`` (one flat row per
model x backend x precision), ``report.md`` (the table to read) and ``pareto.png``.

A row is a JSON object (see :data:`ROW_KEYS`); latency statistics are
:class:`~trtvit_dense.benchmark.stats.LatencyStats` dicts in milliseconds; accuracy is
in percentage points (COCO mAP x 100, mmseg's mIoU and mmpretrain's top-1 / top-5 as
they report them).
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Sequence

from ..deploy.precision import precision_label
from ..tasks import get_task
from ..utils.atomic import atomic_path, atomic_write_bytes
from ..utils.markdown import markdown_table

__all__ = ['ROW_KEYS', 'STAT_KEYS', 'ACCURACY_KEYS', 'REPORT_VERSION', 'primary_metric',
           'accuracy_text',
           'pareto_front', 'flatten_row', 'format_markdown', 'write_reports', 'plot_pareto',
           'validate_row', 'add_speedups', 'save_png', 'format_int8_table',
           'format_time_table']

REPORT_VERSION = 1
STAT_KEYS = ('count', 'mean_ms', 'median_ms', 'p90_ms', 'p95_ms', 'p99_ms', 'min_ms',
             'max_ms', 'throughput')
ACCURACY_KEYS = ('bbox_mAP', 'segm_mAP', 'mIoU', 'aAcc', 'top1', 'top5')
ROW_KEYS = ('name', 'task', 'config', 'backbone', 'model_file', 'weights', 'backend',
            'precision',
            'device', 'params_m', 'gmacs', 'profile', 'compute_opt', 'e2e_opt', 'data',
            'accuracy', 'speedup_e2e', 'speedup_compute', 'environment')


def primary_metric(row: dict) -> tuple[str, float | None]:
    """The row task's headline metric (:attr:`trtvit_dense.tasks.Task.primary_metric`)
    and its value (None when not measured)."""
    name = get_task(row['task']).primary_metric
    return name, (row.get('accuracy') or {}).get(name)


def accuracy_text(row: dict) -> str:
    """A row's accuracy for a progress line: ``bbox_mAP 53.9, segm_mAP 59.8``."""
    return ', '.join(f'{k} {v:.1f}' for k, v in row['accuracy'].items()) or 'no accuracy'


def validate_row(row: dict) -> None:
    """Raise ValueError naming what a row lacks (the report schema)."""
    missing = [k for k in ROW_KEYS if k not in row]
    if missing:
        raise ValueError(f'benchmark row {row.get("name")!r} lacks {missing}')
    for part in ('compute_opt', 'e2e_opt'):
        lacking = [k for k in STAT_KEYS if k not in row[part]]
        if lacking:
            raise ValueError(f'row {row["name"]!r}: {part} lacks {lacking}')


def add_speedups(rows: list[dict]) -> list[dict]:
    """Speed-up of each row over the PyTorch eager row of the same model (mean latency
    at the opt shape, end to end and model compute); None without a PyTorch row."""
    base = {r['name']: r for r in rows if r['backend'] == 'pytorch'}
    for r in rows:
        b = base.get(r['name'])
        r['speedup_e2e'] = (b['e2e_opt']['mean_ms'] / r['e2e_opt']['mean_ms']) if b else None
        r['speedup_compute'] = (b['compute_opt']['mean_ms'] / r['compute_opt']['mean_ms']
                                if b else None)
    return rows


def pareto_front(points: Sequence[tuple[float, float]]) -> list[bool]:
    """For (latency, accuracy) points: True where no other point is at least as fast
    and at least as accurate and strictly better in one of the two."""
    flags = []
    for i, (lat, acc) in enumerate(points):
        dominated = any(
            (l2 <= lat and a2 >= acc) and (l2 < lat or a2 > acc)
            for j, (l2, a2) in enumerate(points) if j != i)
        flags.append(not dominated)
    return flags


def flatten_row(row: dict) -> dict:
    """One CSV row: scalars only, latency statistics as ``<part>_<stat>`` columns."""
    flat = {k: row[k] for k in ('name', 'task', 'backbone', 'backend', 'precision',
                                'device', 'params_m', 'gmacs')}
    flat['opt_shape'] = 'x'.join(map(str, row['profile']['opt_shape']))
    for part in ('compute_opt', 'e2e_opt'):
        for k in STAT_KEYS:
            flat[f'{part}_{k}'] = row[part][k]
    flat['host_fraction_opt'] = row['e2e_opt'].get('host_fraction')
    data = row.get('data') or {}
    flat['data_images'] = data.get('images')
    for k in ('mean_ms', 'median_ms', 'p90_ms', 'p99_ms'):
        flat[f'data_e2e_{k}'] = (data.get('e2e') or {}).get(k)
        flat[f'data_model_{k}'] = (data.get('model') or {}).get(k)
    for k in ACCURACY_KEYS:
        flat[k] = (row.get('accuracy') or {}).get(k)
    batch = row.get('compute_batch') or {}
    flat['batch'] = batch.get('batch')
    flat['batch_per_image_ms'] = batch.get('per_image_ms')
    flat['batch_throughput'] = batch.get('throughput')
    flat['speedup_e2e'] = row.get('speedup_e2e')
    flat['speedup_compute'] = row.get('speedup_compute')
    env = row.get('environment') or {}
    for k in ('cpu', 'gpu', 'threads', 'onnxruntime', 'torch', 'tensorrt'):
        flat[k] = env.get(k)
    return flat


def _fmt(v, spec='.1f'):
    return '-' if v is None else format(v, spec)


def format_markdown(rows: Sequence[dict], title: str = 'Benchmark',
                    extra: str = '') -> str:
    """The report table, one row per model x backend x precision, after the
    environment and the definitions of the columns."""
    env = rows[0]['environment'] if rows else {}
    lines = [f'# {title}', '']
    if env:
        lines += [f"- CPU: {env.get('cpu')} ({env.get('cpu_count')} logical cores), "
                  f"threads: {env.get('threads')}; GPU: {env.get('gpu') or 'none'}",
                  f"- torch {env.get('torch')}, onnxruntime {env.get('onnxruntime')}, "
                  f"TensorRT {env.get('tensorrt') or 'not installed'}, mmdet "
                  f"{env.get('mmdet')}, mmseg {env.get('mmseg')}"]
    lines += ['- latency in ms: *compute* is the graph/engine call alone at the '
              "profile's opt shape (its batch), *e2e* adds decode, pre-processing and "
              'post-processing (mask pasting) for one image that the test pipeline turns '
              'into the opt height and width; *data* is end to end over the dataset '
              'images at their own shapes; *host* is the share of decode+pre+post in e2e',
              '- accuracy in points (COCO mAP x 100, mIoU, top-1/top-5 %) on the same '
              'images, from the same backend; speed-up is end to end vs PyTorch eager of '
              'the same model',
              '']
    batched = [r for r in rows if r.get('compute_batch')]
    classify = any(r['task'] == 'classification' for r in rows)
    if batched:
        lines.insert(-1, f"- *batch {batched[0]['compute_batch']['batch']}*: the compute "
                     'at that batch and the opt height and width, per image (ms) and in '
                     'images per second')
    head = ['model', 'backend', 'prec', 'params M', 'GMACs', 'compute mean', 'median',
            'p99', 'e2e mean', 'host %', 'data e2e median', 'images', 'bbox mAP',
            'segm mAP', 'mIoU']
    if classify:
        head += ['top-1', 'top-5']
    if batched:
        n = batched[0]['compute_batch']['batch']
        head += [f'batch {n} ms/img', f'batch {n} img/s']
    head += ['speed-up']
    table = []
    for r in rows:
        c, e = r['compute_opt'], r['e2e_opt']
        data = r.get('data') or {}
        acc = r.get('accuracy') or {}
        host = e.get('host_fraction')
        cells = [r['name'], r['backend'], precision_label(r['precision'], r.get('quantizer')),
                 _fmt(r['params_m']),
                 _fmt(r['gmacs']), _fmt(c['mean_ms']), _fmt(c['median_ms']),
                 _fmt(c['p99_ms']), _fmt(e['mean_ms']),
                 _fmt(None if host is None else 100 * host),
                 _fmt((data.get('e2e') or {}).get('median_ms')), str(data.get('images', '-')),
                 _fmt(acc.get('bbox_mAP')), _fmt(acc.get('segm_mAP')), _fmt(acc.get('mIoU'))]
        if classify:
            cells += [_fmt(acc.get('top1')), _fmt(acc.get('top5'))]
        if batched:
            b = r.get('compute_batch') or {}
            cells += [_fmt(b.get('per_image_ms'), '.2f'), _fmt(b.get('throughput'))]
        cells.append(_fmt(r.get('speedup_e2e'), '.2f') + ('x' if r.get('speedup_e2e') else ''))
        table.append(cells)
    lines.append(markdown_table(head, table))
    int8 = format_int8_table(rows)
    if int8:
        lines += ['', int8]
    if extra:
        lines += ['', extra]
    return '\n'.join(lines) + '\n'


def format_int8_table(rows: Sequence[dict]) -> str:
    """Markdown: every int8 row next to the fp32 row of the same model and backend:
    its quantizer, accuracy and compute latency against fp32, and what its graph
    quantizes (int8 Conv/MatMul/Gemm, Q/DQ pairs, the op types reading int8
    activations). Empty without int8 rows."""
    fp32 = {(r['name'], r['backend']): r for r in rows if r['precision'] == 'fp32'}
    table = []
    for r in rows:
        if r['precision'] != 'int8':
            continue
        base = fp32.get((r['name'], r['backend']))
        q = (r.get('deploy') or {}).get('int8') or {}
        metric, value = primary_metric(r)
        ref = primary_metric(base)[1] if base else None
        diff = None if value is None or ref is None else value - ref
        speed = (base['compute_opt']['mean_ms'] / r['compute_opt']['mean_ms']
                 if base else None)
        inputs = q.get('int8_inputs') or {}
        table.append([
            r['name'], r['backend'], r.get('quantizer') or q.get('quantizer') or '-',
            q.get('float_precision') or '-', metric, _fmt(ref), _fmt(value),
            '-' if diff is None else f'{diff:+.1f}',
            '-' if speed is None else f'{speed:.2f}x',
            ', '.join(f'{op} {n}' for op, n in (q.get('quantized') or {}).items()) or '-',
            str((q.get('qdq_nodes') or {}).get('quantize', '-')),
            ', '.join(f'{op} {n}' for op, n in inputs.items()) or '-'])
    if not table:
        return ''
    head = ['model', 'backend', 'quantizer', 'float part', 'metric', 'fp32', 'int8',
            'difference', 'fp32/int8 compute', 'int8 Conv/MatMul/Gemm', 'Q/DQ pairs',
            'op types reading int8 activations']
    return ('## Int8 graphs (each quantizer against fp32 on the same backend)\n\n'
            + markdown_table(head, table))


def format_time_table(rows: Sequence[dict]) -> str:
    """Markdown: where each row's time went in the run that measured it (the runner's
    ``wall_s``): deploying (export and verification), the timing loops, the evaluation
    pass over the images, and the whole row; '-' for a row without it."""
    def seconds(row, key):
        value = (row.get('wall_s') or {}).get(key)
        return '-' if value is None else f'{value:.0f}'
    return markdown_table(
        ['model', 'backend', 'prec', 'deploy s', 'timing s', 'evaluation s', 'row s'],
        [[r['name'], r['backend'], precision_label(r['precision'], r.get('quantizer')),
          *(seconds(r, k) for k in ('deploy', 'timing', 'evaluation', 'total'))]
         for r in rows])


def plot_pareto(rows: Sequence[dict], path: str | Path) -> Path:
    """Latency (e2e mean at opt shape) vs primary accuracy, one panel per task, one
    point per row; the Pareto front is joined and its points filled."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    tasks = sorted({r['task'] for r in rows})
    fig, axes = plt.subplots(1, max(len(tasks), 1), figsize=(6.5 * max(len(tasks), 1), 4.8),
                             squeeze=False)
    for ax, task in zip(axes[0], tasks):
        pts = [(r, r['e2e_opt']['mean_ms'], primary_metric(r)[1]) for r in rows
               if r['task'] == task and primary_metric(r)[1] is not None]
        metric = get_task(task).primary_metric
        ax.set_title(f'{task}: {metric} vs end-to-end latency')
        ax.set_xlabel('end-to-end latency at opt shape (ms, batch 1)')
        ax.set_ylabel(f'{metric} (points)')
        if not pts:
            ax.text(0.5, 0.5, 'no accuracy measured', ha='center', transform=ax.transAxes)
            continue
        front = pareto_front([(lat, acc) for _, lat, acc in pts])
        for (r, lat, acc), on in zip(pts, front):
            ax.scatter([lat], [acc], s=50, marker='o' if r['backend'] != 'pytorch' else 's',
                       facecolors='C3' if on else 'none', edgecolors='C3' if on else 'C0')
            ax.annotate(f"{r['name']}\n{r['backend']} {r['precision']}", (lat, acc),
                        fontsize=7, xytext=(4, 4), textcoords='offset points')
        fp = sorted((lat, acc) for (_, lat, acc), on in zip(pts, front) if on)
        ax.plot([p[0] for p in fp], [p[1] for p in fp], 'C3--', lw=1, label='Pareto front')
        ax.legend(loc='lower right', fontsize=8)
        ax.grid(alpha=0.3)
    return save_png(fig, path)


def save_png(fig, path: str | Path) -> Path:
    """Lay out, write atomically and close a matplotlib figure."""
    import matplotlib.pyplot as plt
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format='png')
    plt.close(fig)
    return path


def write_reports(rows: list[dict], out_dir: str | Path, title: str = 'Benchmark',
                  extra_md: str = '', extra_json: dict | None = None) -> dict[str, Path]:
    """Write report.json/.csv/.md and pareto.png into ``out_dir`` (atomically)."""
    for r in rows:
        validate_row(r)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    doc = dict(version=REPORT_VERSION, rows=rows, **(extra_json or {}))
    paths['json'] = atomic_write_bytes(
        out_dir / 'report.json', (json.dumps(doc, indent=1, sort_keys=True) + '\n').encode())
    flat = [flatten_row(r) for r in rows]
    buf = io.StringIO()
    if flat:
        writer = csv.DictWriter(buf, fieldnames=list(flat[0]), lineterminator='\n')
        writer.writeheader()
        writer.writerows(flat)
    paths['csv'] = atomic_write_bytes(out_dir / 'report.csv', buf.getvalue().encode())
    paths['md'] = atomic_write_bytes(out_dir / 'report.md',
                                     format_markdown(rows, title, extra_md).encode())
    paths['png'] = plot_pareto(rows, out_dir / 'pareto.png')
    return paths
