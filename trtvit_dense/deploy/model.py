"""A deployed model (ONNX file or TensorRT engine) as an mmengine model, so the mmdet /
mmseg test loop and evaluators score it exactly like the PyTorch model.

``tools/test.py CONFIG MODEL.onnx --backend onnxruntime`` replaces ``cfg.model`` with
``DeployedModel``: the config's data preprocessor prepares each batch, the backend runs
the graph, and the host-side post-processing of the export rewrite (box rescaling, mask
pasting, segmentation resizing) produces the data samples.
"""
from __future__ import annotations

import json
from pathlib import Path

import onnx
import torch
from mmengine.model import BaseModel

from ..registry import MODELS
from .backends import build_backend
from .config import DeployConfigError, ShapeError, format_shape, from_dict
from .export import DEPLOY_METADATA_KEY, check_signature, model_signature, read_signature

__all__ = ['DeployedModel', 'attach_predictions', 'check_engine_profile', 'mask_threshold',
           'read_deploy_metadata', 'MANIFEST_NAME']

MANIFEST_NAME = 'manifest.json'


def read_deploy_metadata(model_file: str | Path) -> tuple[dict | None, dict | None]:
    """(signature, deploy config dict) of an exported ONNX file (from its metadata) or
    of an engine (from ``manifest.json`` in its folder)."""
    model_file = Path(model_file)
    if not model_file.is_file():
        raise FileNotFoundError(f'deployed model not found: {model_file}')
    if model_file.suffix == '.onnx':
        model = onnx.load(str(model_file), load_external_data=False)
        deploy = next((json.loads(p.value) for p in model.metadata_props
                       if p.key == DEPLOY_METADATA_KEY), None)
        return read_signature(model), deploy
    manifest = model_file.parent / MANIFEST_NAME
    if not manifest.is_file():
        return None, None
    from .manifest import read_manifest
    data = read_manifest(manifest)
    return data.get('signature'), data.get('deploy_config')


def mask_threshold(model_cfg: dict) -> float:
    """``model.test_cfg.rcnn.mask_thr_binary`` of a model config (mmdet's default 0.5)."""
    rcnn = (model_cfg.get('test_cfg') or {}).get('rcnn') or {}
    return float(rcnn.get('mask_thr_binary', 0.5))


def attach_predictions(task: str, outputs: dict, data_samples: list,
                       mask_thr_binary: float = 0.5) -> list:
    """The host-side post-processing of a backend's outputs for one batch: set
    ``pred_instances`` (detection: boxes rescaled, masks pasted) or ``pred_sem_seg``
    (segmentation: resized to the original image) on ``data_samples``, in place."""
    metas = [s.metainfo for s in data_samples]
    if task == 'detection':
        from .rewrite.detection import postprocess_detection
        for sample, inst in zip(data_samples, postprocess_detection(
                outputs, metas, mask_thr_binary=mask_thr_binary)):
            sample.pred_instances = inst
    else:
        from .rewrite.segmentation import postprocess_segmentation
        for sample, pred in zip(data_samples, postprocess_segmentation(outputs, metas)):
            sample.pred_sem_seg = pred.pred_sem_seg
            if 'seg_logits' in pred:
                sample.seg_logits = pred.seg_logits
    return data_samples


def check_engine_profile(backend, deploy_cfg, model_file: str) -> None:
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


@MODELS.register_module()
class DeployedModel(BaseModel):
    """Runs ``model_file`` on ``backend`` ('onnxruntime' or 'tensorrt') for the model
    described by ``model_cfg`` (the config's ``model`` dict, used to check that the
    file was exported from this model and for the post-processing settings)."""

    def __init__(self, model_file: str, backend: str, model_cfg: dict, task: str,
                 backend_args: dict | None = None, data_preprocessor: dict | None = None,
                 init_cfg: dict | None = None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        signature, deploy = read_deploy_metadata(model_file)
        check_signature(model_signature(model_cfg, task), signature, str(model_file))
        self.deploy_cfg = from_dict(deploy, path=str(model_file)) if deploy else None
        self.task = task
        self.backend = build_backend(backend, model_file, **(backend_args or {}))
        check_engine_profile(self.backend, self.deploy_cfg, str(model_file))
        self.mask_thr_binary = mask_threshold(model_cfg)
        # keeps BaseModel's device bookkeeping happy; the backend owns the weights
        self._dummy = torch.nn.Parameter(torch.zeros(0), requires_grad=False)

    def forward(self, inputs, data_samples=None, mode='predict'):
        if mode != 'predict':
            raise RuntimeError(f'a deployed model only predicts (mode={mode!r}); train '
                               'the PyTorch model instead')
        return self.predict(inputs, data_samples)

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, data_samples: list) -> list:
        if self.deploy_cfg is not None:
            try:
                self.deploy_cfg.check_shape(inputs.shape)
            except ShapeError as e:
                images = ', '.join(str(s.metainfo.get('img_path', '?')) for s in data_samples)
                raise ShapeError(
                    f'{e}; the test pipeline made it from {images}: deploy again with a '
                    'profile that covers it (--deploy-options profile.min_shape=... / '
                    "max_shape=...) or change the test pipeline's Resize") from None
        outputs = self.backend(inputs.float().cpu().numpy())
        attach_predictions(self.task, outputs, data_samples, self.mask_thr_binary)
        return data_samples

    def test_step(self, data):
        data = self.data_preprocessor(data, False)
        return self.predict(data['inputs'], data['data_samples'])

    val_step = test_step
