"""The TRT-ViT paper's density analysis, re-measured on the user's hardware.

TRT-ViT's design rules come from two densities of building blocks measured with
TensorRT on one GPU: FLOPs per second (FLOPs / latency, the paper's "TeraFLOPS") and
parameters per second (params / latency, "TeraParams"). A block with a high density
uses the hardware well. Both depend on the hardware and the runtime, so
:func:`density_table` measures them for BottleNeck, Transformer and MixBlockC blocks and
for the backbone's stages at the four stage resolutions of an input size, plus the
whole backbone, on PyTorch eager, ONNX Runtime or TensorRT, next to the machine's
measured fp32 GEMM peak (:func:`gemm_peak`) in the same run.

Blocks run in deploy form (BN folded into convs, as exported). Each block gets the
stage's width C at the stage's feature-map size; the Transformer layer runs on the
H*W tokens of that map (as MixBlockC runs its global branch). FLOPs are mmengine's
counts (one multiply-add = 2 FLOPs here; GMACs x 2). A block whose attention matrix
would not fit ``max_attention_gib`` is listed as skipped with the memory it needs.
"""
from __future__ import annotations

import math
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..deploy.backends import Backend, check_backend, open_backend
from ..models.backbones.trt_vit import (Bottleneck, MixBlockC, TRTViT, TransformerLayer,
                                        switch_to_deploy)
from ..models.complexity import count_gmacs
from ..utils.markdown import markdown_table
from .stats import TimingSettings, time_loop

__all__ = ['DensityRow', 'density_items', 'density_table', 'gemm_peak', 'format_density',
           'plot_density', 'STAGE_STRIDES']

STAGE_STRIDES = (4, 8, 16, 32)
BLOCKS = ('BottleNeck', 'Transformer', 'MixBlockC')


class _Tokens(nn.Module):
    """A Transformer layer applied to the tokens of a [B, C, H, W] map."""

    def __init__(self, dim: int, head_dim: int, mlp_ratio: float):
        super().__init__()
        self.layer = TransformerLayer(dim, head_dim, mlp_ratio)

    def forward(self, x):
        b, c, h, w = x.shape
        return self.layer(x.flatten(2).transpose(1, 2)).transpose(1, 2).reshape(b, c, h, w)


class _Named(nn.Module):
    """A module with the ``output_names`` the backends expect."""

    output_names = ('output', )

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x):
        out = self.module(x)
        return tuple(out) if isinstance(out, (tuple, list)) else (out, )


@dataclass
class DensityRow:
    input_hw: tuple[int, int]
    item: str            # BottleNeck / Transformer / MixBlockC / stage1..4 / backbone
    stage: int | None
    shape: tuple[int, ...]
    params_m: float
    gflops: float        # 2 x GMACs
    latency_ms: float | None = None
    gflop_per_s: float | None = None
    gparams_per_s: float | None = None
    peak_fraction: float | None = None
    skipped: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _feature_sizes(h: int, w: int) -> list[tuple[int, int]]:
    """Feature-map sizes at strides 4..32: every stride-2 layer of the backbone
    (stem conv, max-pool, strided 3x3 convs) maps n to ceil(n / 2)."""
    sizes = []
    for _ in range(2):
        h, w = math.ceil(h / 2), math.ceil(w / 2)
    sizes.append((h, w))
    for _ in range(3):
        h, w = math.ceil(h / 2), math.ceil(w / 2)
        sizes.append((h, w))
    return sizes


def _attention_gib(dim: int, head_dim: int, tokens: int) -> float:
    return dim // head_dim * tokens * tokens * 4 / 2**30


def density_items(arch: str = 'a', input_hw: tuple[int, int] = (224, 224),
                  max_attention_gib: float = 4.0
                  ) -> list[tuple[str, int | None, nn.Module | None, tuple, str | None]]:
    """``(item, stage, module, input shape, skip reason)`` for every block type at every
    stage resolution of ``input_hw``, each stage of the backbone and the backbone."""
    backbone = TRTViT(arch).eval()
    head_dim, mlp_ratio, mix_ratio = 32, 3.0, 0.5
    widths = backbone.arch['widths']
    sizes = _feature_sizes(*input_hw)
    items = []
    for s, ((h, w), c) in enumerate(zip(sizes, widths), start=1):
        shape = (1, c, h, w)
        tokens = h * w
        items.append(('BottleNeck', s, Bottleneck(c, c), shape, None))
        for name, dim, make in (
                ('Transformer', c, lambda: _Tokens(c, head_dim, mlp_ratio)),
                ('MixBlockC', int(c * mix_ratio), lambda: MixBlockC(c, mix_ratio, head_dim,
                                                                    mlp_ratio))):
            need = _attention_gib(dim, head_dim, tokens)
            if need > max_attention_gib:
                items.append((name, s, None, shape, f'attention needs {need:.1f} GiB '
                              f'(> {max_attention_gib} GiB) for {tokens} tokens'))
            else:
                items.append((name, s, make(), shape, None))
    in_c, in_hw = backbone.stem[0].conv.out_channels, sizes[0]
    for s, stage in enumerate(backbone.stages, start=1):
        items.append((f'stage{s}', s, stage, (1, in_c, *in_hw), None))
        in_c, in_hw = widths[s - 1], sizes[s - 1]
    items.append(('backbone', None, backbone, (1, 3, *input_hw), None))
    return items


def _ort_matmul(n: int, threads: int | None) -> Callable[[], None]:
    """A one-node ONNX Runtime MatMul session on two n x n matrices."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper
    graph = helper.make_graph(
        [helper.make_node('MatMul', ['a', 'b'], ['c'])], 'gemm',
        [helper.make_tensor_value_info(k, TensorProto.FLOAT, [n, n]) for k in 'ab'],
        [helper.make_tensor_value_info('c', TensorProto.FLOAT, [n, n])])
    # IR version 8 (opset 17's): onnx writes its newest, which ORT may not read yet
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)],
                              ir_version=8)
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    session = ort.InferenceSession(model.SerializeToString(), opts,
                                   providers=['CPUExecutionProvider'])
    rng = np.random.default_rng(0)
    feeds = {k: rng.standard_normal((n, n), dtype=np.float32) for k in 'ab'}
    onnx.checker.check_model(model)

    def run() -> None:
        session.run(None, feeds)
    return run


def gemm_peak(n: int = 2048, settings: TimingSettings = TimingSettings(
        warmup_s=1.0, iters=10), threads: int | None = None) -> dict:
    """This machine's fp32 GEMM throughput, measured now: n x n matrix products with
    PyTorch (``torch.mm``: MKL/oneDNN) and ONNX Runtime (MLAS ``MatMul``), best time of
    ``settings.iters`` after a warm-up. The peak is the faster library: BLAS builds
    differ per CPU vendor (MKL takes slower paths on AMD CPUs)."""
    a, b = torch.randn(n, n), torch.randn(n, n)

    def torch_mm() -> None:  # returns nothing: time_loop times it on the host
        torch.mm(a, b)

    flops = 2 * n**3
    result = dict(n=n, threads=threads or torch.get_num_threads())
    for name, fn in (('torch', torch_mm), ('onnxruntime', _ort_matmul(n, threads))):
        stats, _ = time_loop(fn, settings)
        result[name] = dict(gflop_per_s=flops / (stats.min_ms / 1e3) / 1e9,
                            gflop_per_s_median=flops / (stats.median_ms / 1e3) / 1e9)
    best = max(('torch', 'onnxruntime'), key=lambda k: result[k]['gflop_per_s'])
    result.update(library=best, gflop_per_s=result[best]['gflop_per_s'],
                  gflop_per_s_median=result[best]['gflop_per_s_median'])
    return result


def _backend(kind: str, module: nn.Module, shape: tuple, workdir: Path, tag: str,
             threads: int | None = None) -> Backend:
    """``module`` on backend ``kind``: eager, or exported to ONNX at ``shape`` (and for
    TensorRT built into an engine with a static profile at that shape)."""
    check_backend(kind, 'cuda' if kind == 'tensorrt' else 'cpu', flag='backend')
    wrapped = _Named(module).eval()
    if kind == 'pytorch':
        source = wrapped
    else:
        source = workdir / f'{tag}.onnx'
        with torch.no_grad():
            torch.onnx.export(wrapped, (torch.zeros(shape), ), str(source), dynamo=False,
                              opset_version=17, input_names=['input'],
                              output_names=['output'])
    if kind == 'tensorrt':
        from ..deploy.backends.tensorrt import build_engine
        from ..deploy.config import DeployConfig
        # a static profile at the block's input; the task is unused by the builder
        profile = DeployConfig(task='detection', min_shape=shape, opt_shape=shape,
                               max_shape=shape)
        engine = workdir / f'{tag}.engine'
        build_engine(source, engine, profile)
        source = engine
    backend = open_backend(kind, source, device='cuda' if kind == 'tensorrt' else 'cpu',
                           threads=threads)
    backend.channels = None
    return backend


def density_table(backend: str = 'onnxruntime', arch: str = 'a',
                  sizes: Sequence[tuple[int, int]] = ((224, 224), (800, 1344)),
                  settings: TimingSettings = TimingSettings(iters=10),
                  max_attention_gib: float = 4.0, progress=None,
                  threads: int | None = None) -> dict:
    """Measure every item of :func:`density_items` for each input size on ``backend``;
    returns ``{'peak': gemm_peak(), 'rows': [DensityRow dicts], ...}``."""
    check_backend(backend, 'cuda' if backend == 'tensorrt' else 'cpu', flag='backend')
    peak = gemm_peak(threads=threads)
    rows = []
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(prefix='density-') as tmp:
        for hw in sizes:
            for k, (item, stage, module, shape, skip) in enumerate(
                    density_items(arch, hw, max_attention_gib)):
                if module is None:
                    rows.append(DensityRow(hw, item, stage, shape, 0.0, 0.0, skipped=skip))
                    continue
                module = switch_to_deploy(module.eval())
                params = sum(p.numel() for p in module.parameters()) / 1e6
                gflops = 2 * count_gmacs(module, shape)
                runner = _backend(backend, module, shape, Path(tmp), f'{item}_{stage}_{k}',
                                  threads)
                x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
                start = time.perf_counter()
                stats, _ = time_loop(lambda: runner.compute_seconds(x), settings)
                lat = stats.median_ms / 1e3
                rows.append(DensityRow(
                    hw, item, stage, shape, params, gflops, latency_ms=stats.median_ms,
                    gflop_per_s=gflops / lat, gparams_per_s=params * 1e6 / lat / 1e9,
                    peak_fraction=gflops / lat / peak['gflop_per_s']))
                if progress is not None:
                    progress(rows[-1], time.perf_counter() - start)
                del runner
    return dict(backend=backend, arch=arch, peak=peak,
                rows=[r.to_dict() for r in rows])


def format_density(result: dict) -> str:
    """Markdown table of :func:`density_table`'s result."""
    peak = result['peak']
    lines = [f"fp32 GEMM peak ({peak['n']}x{peak['n']}, {peak['threads']} threads, best of "
             f"torch.mm {peak['torch']['gflop_per_s']:.1f} and ONNX Runtime MatMul "
             f"{peak['onnxruntime']['gflop_per_s']:.1f}): {peak['gflop_per_s']:.1f} GFLOP/s",
             '', f"backend {result['backend']}, TRT-ViT-{result['arch'].upper()}, batch 1, "
             'median latency; FLOPs = 2 x MACs', '']
    head = ['input', 'item', 'stage', 'input shape', 'params M', 'GFLOPs', 'latency ms',
            'GFLOP/s', '% of GEMM peak', 'Gparams/s']
    table = []
    for r in result['rows']:
        hw = 'x'.join(map(str, r['input_hw']))
        shape = 'x'.join(map(str, r['shape']))
        if r['skipped']:
            table.append([hw, r['item'], r['stage'], shape, '-', '-',
                          f"skipped: {r['skipped']}", '-', '-', '-'])
            continue
        table.append([hw, r['item'], r['stage'] or '-', shape, f"{r['params_m']:.2f}",
                      f"{r['gflops']:.2f}", f"{r['latency_ms']:.2f}",
                      f"{r['gflop_per_s']:.1f}", f"{100 * r['peak_fraction']:.0f}%",
                      f"{r['gparams_per_s']:.3f}"])
    return '\n'.join(lines) + '\n' + markdown_table(head, table) + '\n'


def plot_density(result: dict, path: str | Path) -> Path:
    """Bars of GFLOP/s (top) and Gparams/s (bottom) per block and stage, one column per
    input size, with the GEMM peak as a line."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from .report import save_png
    sizes = sorted({tuple(r['input_hw']) for r in result['rows']})
    fig, axes = plt.subplots(2, len(sizes), figsize=(6.5 * len(sizes), 7), squeeze=False)
    width = 0.27
    for col, hw in enumerate(sizes):
        rows = [r for r in result['rows'] if tuple(r['input_hw']) == hw]
        for row_i, (key, label) in enumerate((('gflop_per_s', 'GFLOP/s'),
                                              ('gparams_per_s', 'Gparams/s'))):
            ax = axes[row_i][col]
            for b, block in enumerate(BLOCKS):
                found = [next((r for r in rows if r['item'] == block and r['stage'] == s),
                              None) for s in range(1, 5)]
                vals = [(r or {}).get(key) or 0 for r in found]
                xs = np.arange(4) + (b - 1) * width
                ax.bar(xs, vals, width, label=block, color=f'C{b}')
                for x, r in zip(xs, found):
                    if r is not None and r['skipped']:
                        ax.text(x, 0, 'skipped', rotation=90, fontsize=6, ha='center',
                                va='bottom', color=f'C{b}')
            if key == 'gflop_per_s':
                ax.axhline(result['peak']['gflop_per_s'], color='k', ls='--', lw=1,
                           label='fp32 GEMM peak')
            ax.set_xticks(range(4), [f'stage {s}\n(1/{STAGE_STRIDES[s - 1]})'
                                     for s in range(1, 5)])
            ax.set_ylabel(label)
            ax.set_title(f"{result['backend']} @ {hw[0]}x{hw[1]}: {label}")
            ax.grid(alpha=0.3, axis='y')
            ax.legend(fontsize=7)
    return save_png(fig, path)
