"""A deployed model (ONNX file or TensorRT engine) as an mmengine model, so the mmdet /
mmseg test loop and evaluators score it exactly like the PyTorch model.

``tools/test.py CONFIG MODEL.onnx --backend onnxruntime`` replaces ``cfg.model`` with
``DeployedModel``: the config's data preprocessor prepares each batch, the backend runs
the graph, and the host-side post-processing of the export rewrite (box rescaling, mask
pasting, segmentation resizing) produces the data samples.
"""
from __future__ import annotations

import torch
from mmengine.model import BaseModel

from ..registry import MODELS
from ..tasks import get_task
from .artifact import DeployedArtifact
from .config import ShapeError

__all__ = ['DeployedModel', 'attach_predictions']


def attach_predictions(task: str, outputs: dict, data_samples: list, model_cfg: dict) -> list:
    """The host-side post-processing of a backend's outputs for one batch: set
    ``pred_instances`` (detection: boxes rescaled, masks pasted) or ``pred_sem_seg``
    (segmentation: resized to the original image) on ``data_samples``, in place, with
    the settings of the model config ``model_cfg`` (mmdet's ``mask_thr_binary``)."""
    return get_task(task).deploy.attach_predictions(outputs, data_samples, model_cfg)


@MODELS.register_module()
class DeployedModel(BaseModel):
    """Runs ``model_file`` on ``backend`` ('onnxruntime' or 'tensorrt') on ``device`` for
    the model described by ``model_cfg`` (the config's ``model`` dict, used to check that
    the file was exported from this model and for the post-processing settings).
    ``backend_args`` go to the backend's ``open`` (e.g. TensorRT's ``log_level``)."""

    def __init__(self, model_file: str, backend: str, model_cfg: dict, task: str,
                 device: str = 'cpu', backend_args: dict | None = None,
                 data_preprocessor: dict | None = None, init_cfg: dict | None = None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        artifact = DeployedArtifact.of_file(model_file)
        artifact.check_model(model_file, model_cfg, task)
        self.deploy_cfg = artifact.deploy_config(model_file)
        self.task = task
        self.model_cfg = model_cfg
        self.backend = artifact.backend(model_file, backend, device=device,
                                        **(backend_args or {}))
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
        attach_predictions(self.task, outputs, data_samples, self.model_cfg)
        return data_samples

    def test_step(self, data):
        data = self.data_preprocessor(data, False)
        return self.predict(data['inputs'], data['data_samples'])

    val_step = test_step
