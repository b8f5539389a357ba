"""A deployed model folder as one object: what ``tools/deploy.py`` writes and what every
tool that runs a deployed model opens.

A deploy folder holds the fp32 graph ``end2end.onnx`` and, per precision, its
converted graph (:data:`~.precision.GRAPH_FILES`), a TensorRT engine
``end2end.engine`` (with its ``timing.cache``) and ``manifest.json``, which records the
model signature, the deploy config (profile), the precision and the files with their
hashes. An ONNX graph also carries the signature and deploy config in its metadata, so a
graph copied out of its folder still opens; an engine needs the manifest beside it.
:class:`DeployedArtifact` reads all of that in one place, checks a deployed file against
the model config it is run for, and opens it on a backend.
"""
from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

from .backends import Backend, backend_of, open_backend
from .config import DeployConfig, DeployConfigError, format_shape, from_dict
from .manifest import read_manifest
from .onnx.export import DEPLOY_METADATA_KEY, check_signature, model_signature, read_signature
from .precision import GRAPH_FILES, PRECISIONS, graph_kind

__all__ = ['DeployedArtifact', 'MANIFEST_NAME', 'ENGINE_FILE', 'TIMING_CACHE_FILE',
           'check_engine_profile']

MANIFEST_NAME = 'manifest.json'
ENGINE_FILE = 'end2end.engine'
TIMING_CACHE_FILE = 'timing.cache'


class DeployedArtifact:
    """The deploy folder ``folder``; its manifest is read when first needed."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self._metadata: dict[Path, tuple] = {}  # file -> (signature, deploy config dict)

    @cached_property
    def manifest(self) -> dict | None:
        """``manifest.json`` of the folder, or None where there is none (a graph copied
        out of its folder); a damaged one is a :class:`~.manifest.ManifestError`."""
        return read_manifest(self.manifest_path) if self.manifest_path.is_file() else None

    @classmethod
    def of_file(cls, model_file: str | Path) -> 'DeployedArtifact':
        """The artifact a deployed file (graph or engine) belongs to: its folder."""
        model_file = Path(model_file)
        if not model_file.is_file():
            raise FileNotFoundError(f'deployed model not found: {model_file}')
        return cls(model_file.parent)

    # -- files -----------------------------------------------------------------------
    def graph(self, precision: str = 'fp32') -> Path:
        """The ONNX graph of ``precision`` (named as :func:`~.precision.graph_file`)."""
        return self.folder / GRAPH_FILES[precision]

    @property
    def engine(self) -> Path:
        return self.folder / ENGINE_FILE

    @property
    def timing_cache(self) -> Path:
        return self.folder / TIMING_CACHE_FILE

    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST_NAME

    def precision_of(self, model_file: str | Path) -> str:
        """The precision ``model_file`` of this folder computes in, from the manifest:
        the fp16/int8 graph it lists, or an engine built at that precision; fp32 for
        anything else (and without a manifest)."""
        if self.manifest is None:
            return 'fp32'
        files = {v.get('path'): k for k, v in (self.manifest.get('files') or {}).items()}
        kind = files.get(Path(model_file).name)
        for precision in PRECISIONS[1:]:
            if kind == graph_kind(precision) or (
                    kind == 'engine' and self.manifest.get('precision') == precision):
                return precision
        return 'fp32'

    # -- what a file was deployed from and for ----------------------------------------------
    def metadata(self, model_file: str | Path) -> tuple[dict | None, dict | None]:
        """(signature, deploy config dict) of ``model_file``: from an ONNX graph's own
        metadata, or for an engine from the manifest (None, None without one)."""
        model_file = Path(model_file)
        if not model_file.is_file():
            raise FileNotFoundError(f'deployed model not found: {model_file}')
        if model_file not in self._metadata:  # a graph can be large: parse it once
            self._metadata[model_file] = self._read_metadata(model_file)
        return self._metadata[model_file]

    def _read_metadata(self, model_file: Path) -> tuple[dict | None, dict | None]:
        if model_file.suffix == '.onnx':
            import onnx
            model = onnx.load(str(model_file), load_external_data=False)
            deploy = next((json.loads(p.value) for p in model.metadata_props
                           if p.key == DEPLOY_METADATA_KEY), None)
            return read_signature(model), deploy
        if self.manifest is None:
            return None, None
        return self.manifest.get('signature'), self.manifest.get('deploy_config')

    def deploy_config(self, model_file: str | Path) -> DeployConfig | None:
        """The deploy config (profile) ``model_file`` was exported or built for."""
        _, deploy = self.metadata(model_file)
        return from_dict(deploy, path=str(model_file)) if deploy else None

    def check_model(self, model_file: str | Path, model_cfg: dict, task: str) -> None:
        """``model_file`` must come from the model ``model_cfg`` describes
        (:class:`~.onnx.export.SignatureMismatch` names every field that differs)."""
        signature, _ = self.metadata(model_file)
        check_signature(model_signature(model_cfg, task), signature, str(model_file))

    # -- running it -------------------------------------------------------------------
    def backend(self, model_file: str | Path, backend: str | None = None,
                device: str = 'cpu', threads: int | None = None, **kwargs) -> Backend:
        """Open ``model_file`` on ``backend`` (default: the one its suffix names); an
        engine must have been built for the profile its manifest describes."""
        backend = backend or backend_of(model_file)
        runner = open_backend(backend, model_file, device=device, threads=threads, **kwargs)
        check_engine_profile(runner, self.deploy_config(model_file), str(model_file))
        return runner


def check_engine_profile(backend, deploy_cfg: DeployConfig | None, model_file: str) -> None:
    """An engine's own optimization profile must be the one its ``manifest.json``
    describes: otherwise the engine was rebuilt or copied from another deploy, and the
    shape checks and padding decisions made from the manifest would be wrong."""
    engine_range = (getattr(backend, 'min_shape', None), getattr(backend, 'max_shape', None))
    if deploy_cfg is None or None in engine_range:
        return  # ONNX Runtime graphs have no profile; engines without a manifest
    manifest_range = (tuple(deploy_cfg.min_shape), tuple(deploy_cfg.max_shape))
    if tuple(map(tuple, engine_range)) != manifest_range:
        raise DeployConfigError(
            f'{model_file} was built for the profile {format_shape(engine_range[0])} to '
            f'{format_shape(engine_range[1])}, but the {MANIFEST_NAME} beside it '
            f'describes {format_shape(manifest_range[0])} to '
            f'{format_shape(manifest_range[1])}: the engine comes from another deploy; '
            'build it again with tools/deploy.py --backend tensorrt into its own folder')
