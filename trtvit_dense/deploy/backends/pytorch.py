"""The PyTorch export wrapper (:mod:`trtvit_dense.deploy.rewrite`) run eagerly: the
reference every deployed backend is verified against."""
from __future__ import annotations

import numpy as np
import torch

from .base import Backend

__all__ = ['TorchBackend']


class TorchBackend(Backend):
    """The PyTorch export wrapper run eagerly, with the same interface."""

    name = 'pytorch'

    def __init__(self, module: torch.nn.Module):
        self.module = module.eval()
        self.output_names = tuple(module.output_names)

    @torch.no_grad()
    def __call__(self, x) -> dict[str, np.ndarray]:
        x = torch.from_numpy(self._as_input(x))
        outs = self.module(x)
        return {n: o.detach().cpu().numpy() for n, o in zip(self.output_names, outs)}

    @classmethod
    def open(cls, source: torch.nn.Module, device: str = 'cpu',
             threads: int | None = None) -> 'TorchBackend':
        if not isinstance(source, torch.nn.Module):
            raise TypeError(f'the pytorch backend runs an export wrapper module, got '
                            f'{type(source).__name__}')
        return cls(source)
