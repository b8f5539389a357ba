"""Inference backends with one interface.

A backend maps the network input (a float32 ``[B, 3, H, W]`` array, already normalised
and padded by the model's data preprocessor) to a dict of named output arrays, the
same names and meaning for every backend:

* detection: ``dets`` [B, K, 5] float32 (x1, y1, x2, y2, score in input pixels),
  ``labels`` [B, K] int32 (-1 marks a padded row, whose box and score are 0), and for
  Mask R-CNN ``masks`` [B, K, M, M] float32 (mask probabilities of the label's class);
* segmentation: ``seg_labels`` [B, 1, H, W] int32 and optionally ``seg_logits``
  [B, C, H, W] float32.

Each backend is one module of this package and one entry of its registry
(:data:`trtvit_dense.deploy.backends.BACKENDS`).
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ['Backend', 'BackendUnavailable']


class BackendUnavailable(RuntimeError):
    """The backend's runtime (TensorRT, a GPU, an ORT provider) is not on this machine."""


class Backend:
    """Base class: ``backend(x) -> {output name: np.ndarray}``."""

    name = 'base'
    input_name = 'input'
    output_names: tuple[str, ...] = ()
    # images have 3 channels; None accepts any [B, C, H, W] (block benchmarks)
    channels: int | None = 3

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def compute_seconds(self, x: np.ndarray) -> float | None:
        """Run once for timing. Returns the device time of the model alone where the
        backend measures it (TensorRT: CUDA events), else None: the caller times the
        call on the host (CPU backends compute synchronously)."""
        self(x)
        return None

    def _as_input(self, x) -> np.ndarray:
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 4 or (self.channels is not None and x.shape[1] != self.channels):
            raise ValueError(f'input must be [B, {self.channels or "C"}, H, W], got shape '
                             f'{list(x.shape)}')
        return x
