"""Export rewrite for mmpretrain's ``ImageClassifier`` with dynamic batch, height and
width, and the host-side post-processing that turns the backend's scores back into
mmpretrain ``DataSample``s.

Nothing in a classifier's inference depends on the traced size: the backbone is
convolutional up to its last stage (TRT-ViT's attention runs over however many tokens
there are), ``GlobalAveragePooling`` exports as ONNX ``GlobalAveragePool`` and the linear
head sees ``[B, C]``. The graph ends with the softmax that mmpretrain's ``ClsHead.predict``
applies, so its output ``scores`` are the probabilities mmpretrain reports
(``pred_score``); the label is their argmax, on the host.
"""
from __future__ import annotations

import copy
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ['ExportableClassifier', 'postprocess_classification']

def _check_classifier(model: nn.Module) -> None:
    from mmpretrain.models import ClsHead, ImageClassifier
    name = type(model).__name__
    if not isinstance(model, ImageClassifier):
        raise TypeError(f'ExportableClassifier needs an mmpretrain ImageClassifier, got {name}')
    head = getattr(model, 'head', None)
    if not isinstance(head, ClsHead):
        raise TypeError(f'{name} with a {type(head).__name__} head is not supported for '
                        'export: only single-label heads (ClsHead and subclasses, e.g. '
                        'LinearClsHead: softmax scores) are')


class ExportableClassifier(nn.Module):
    """mmpretrain ``ImageClassifier`` as a graph with dynamic B, H and W.

    ``forward(input)`` maps the preprocessed ``[B, 3, H, W]`` batch to ``scores``
    ``[B, num_classes]`` float32: softmax over the head's logits, mmpretrain's
    ``pred_score``.

    Args:
        model: a built ``ImageClassifier``; deep-copied, the caller's is untouched.

    Raises:
        TypeError: for another model type, or a head that is not single-label.
    """

    task = 'classification'

    def __init__(self, model: nn.Module):
        super().__init__()
        _check_classifier(model)
        self.model = copy.deepcopy(model).eval()
        self.num_classes = int(self.model.head.num_classes)
        self.output_names: tuple[str, ...] = ('scores', )
        self.output_axes: dict[str, dict[int, str]] = {'scores': {0: 'batch'}}
        # eval for good: torch.onnx.export restores the wrapper's own mode afterwards
        self.eval()

    def forward(self, input: Tensor) -> tuple[Tensor]:  # noqa: A002 (ONNX name)
        logits = self.model(input, mode='tensor')
        return (F.softmax(logits, dim=1), )


def postprocess_classification(outputs: dict[str, np.ndarray],
                               data_samples: Sequence[Any]) -> Sequence[Any]:
    """Set ``pred_score`` (the ``scores`` row) and ``pred_label`` (its argmax) on each
    mmpretrain ``DataSample`` of the batch, in place, as ``ClsHead.predict`` does."""
    scores = np.asarray(outputs['scores'], np.float32)
    if scores.ndim != 2 or scores.shape[0] != len(data_samples):
        raise ValueError(f'scores of shape {list(scores.shape)} do not fit a batch of '
                         f'{len(data_samples)} images ([B, num_classes] expected)')
    for sample, row in zip(data_samples, scores):
        score = torch.from_numpy(row.copy())
        sample.set_pred_score(score).set_pred_label(score.argmax(keepdim=True))
    return data_samples
