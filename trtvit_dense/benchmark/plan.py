"""What a benchmark measures: the models (:class:`ModelSpec`), the options, and the rows
(model x backend x precision) planned from them, every impossible combination refused
before anything runs."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..config import check_config_file, resolve_config_path
from ..deploy.artifact import DeployedArtifact
from ..deploy.backends import BACKENDS, BackendError, backend_of, check_backend
from ..deploy.precision import PRECISIONS
from .stats import TimingSettings

__all__ = ['BenchmarkError', 'ModelSpec', 'BenchmarkOptions', 'Row', 'plan_rows']


class BenchmarkError(ValueError):
    """Benchmark inputs that cannot work together (named in the message)."""


@dataclass(frozen=True)
class ModelSpec:
    """A model config and what to run: a checkpoint (``.pth``), a deployed file
    (``.onnx``/``.engine``), or None for seeded random weights (latency only)."""
    config: str
    model: str | None = None
    name: str | None = None

    @property
    def display_name(self) -> str:
        return self.name or Path(self.config).stem


@dataclass(frozen=True)
class BenchmarkOptions:
    backends: tuple[str, ...] = ('pytorch', 'onnxruntime')
    precisions: tuple[str, ...] = ('fp32', )
    deploy_configs: dict = field(default_factory=dict)  # task -> deploy config path
    split: str = 'test'
    num_images: int | None = None
    timing: TimingSettings = TimingSettings()
    threads: int | None = None
    device: str = 'cpu'
    verify: bool = True
    with_static: bool = False
    paired: bool = False
    static_iters: int | None = None  # alternations of the A/B comparisons (None: iters)
    cfg_options: dict | None = None
    # int8 rows: calibration images, a folder or a split of the model config (None: its
    # train split) and how many (None: deploy.quantize.int8.DEFAULT_CALIB_NUM), see
    # deploy.pipeline.calibration_image_paths
    calib_data: str | None = None
    calib_num: int | None = None
    # int8 rows: one per quantizer named here (deploy.quantize.quantizers); empty: the
    # backend's default quantizer only
    quantizers: tuple[str, ...] = ()
    use_cache: bool = True
    progress: bool = True
    seed: int = 0
    # also time the model compute at this batch (opt height/width): throughput and
    # per-image latency, as the TRT-ViT paper times classifiers (batch 8); None: not
    batch: int | None = None


@dataclass
class Row:
    """One planned row: ``source`` is the checkpoint (or None) or the deployed file."""
    spec: ModelSpec
    backend: str
    precision: str
    source: str | None
    quantizer: str | None = None  # int8 rows made here: who placed the Q/DQ nodes


# ------------------------------------------------------------------------- planning


def plan_rows(specs: Sequence[ModelSpec], options: BenchmarkOptions) -> list[Row]:
    """The rows to measure, with every impossible combination refused up front.

    A checkpoint (or random weights) runs on every requested backend (PyTorch in fp32
    only: it is the eager baseline); a deployed file runs on its own backend only."""
    bad = [b for b in options.backends if b not in BACKENDS]
    if bad or not options.backends:
        raise BenchmarkError(f'backends must be among {tuple(BACKENDS)}, got '
                             f'{list(options.backends)}')
    bad = [p for p in options.precisions if p not in PRECISIONS]
    if bad or not options.precisions:
        raise BenchmarkError(f'precisions must be among {PRECISIONS}, got '
                             f'{list(options.precisions)}')
    for name in options.backends:
        try:
            check_backend(name, options.device, probe=False)
        except BackendError as e:
            raise BenchmarkError(str(e)) from None
    if options.batch is not None and (isinstance(options.batch, bool)
                                      or not isinstance(options.batch, int)
                                      or options.batch < 1):
        raise BenchmarkError(f'--batch must be an integer >= 1, got {options.batch!r}')
    if options.num_images is not None and options.num_images < 1:
        raise BenchmarkError(f'--num-images must be >= 1, got {options.num_images}')
    if 'int8' in options.precisions and options.calib_num is not None \
            and options.calib_num < 1:
        raise BenchmarkError(f'--calib-num must be >= 1, got {options.calib_num}')
    from ..deploy.quantize.quantizers import QUANTIZERS, default_quantizer
    bad = [q for q in options.quantizers if q not in QUANTIZERS]
    if bad:
        raise BenchmarkError(f'quantizers must be among {tuple(QUANTIZERS)}, got {bad}')
    if options.quantizers and 'int8' not in options.precisions:
        raise BenchmarkError('--quantizers apply to int8 rows: add int8 to --precisions')
    names = [s.display_name for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise BenchmarkError(f'model names must be unique, {dup} repeat; name them')
    rows = []
    for spec in specs:
        check_config_file(resolve_config_path(spec.config))
        if spec.model is not None and not Path(spec.model).is_file():
            raise BenchmarkError(f'model file not found: {spec.model}')
        kind = backend_of(spec.model) if spec.model else 'pytorch'
        if kind != 'pytorch':
            if kind not in options.backends:
                raise BenchmarkError(
                    f'{spec.model} is a {kind} model; add {kind} to the backends or pass '
                    'the checkpoint to benchmark other backends')
            precision = DeployedArtifact.of_file(spec.model).precision_of(spec.model)
            rows.append(Row(spec, kind, precision, spec.model))
            continue
        for backend in options.backends:
            precisions = ('fp32', ) if backend == 'pytorch' else options.precisions
            for p in precisions:
                if p != 'int8':
                    rows.append(Row(spec, backend, p, spec.model))
                    continue
                for quantizer in options.quantizers or (default_quantizer(backend), ):
                    if QUANTIZERS[quantizer].available() is None:
                        raise BenchmarkError(
                            f"int8 rows by {quantizer} for {backend}: NVIDIA Model "
                            "Optimizer is not installed (pip install -e '.[modelopt]'), "
                            'or name --quantizers onnxruntime')
                    rows.append(Row(spec, backend, p, spec.model, quantizer))
    return rows
