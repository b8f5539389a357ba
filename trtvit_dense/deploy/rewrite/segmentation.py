"""Export rewrite for mmseg's ``EncoderDecoder`` (UPerNet) with dynamic batch, height and
width, and the host-side post-processing that turns the backend outputs back into
mmseg ``SegDataSample``s.

The trap
--------
UPerHead's pyramid pooling module (``UPerHead.psp_modules``, mmseg's ``PPM``) pools the
last feature map with ``nn.AdaptiveAvgPool2d`` at 1, 2, 3 and 6 bins. ONNX has no
adaptive pooling, so exporters lower it to a fixed ``AvgPool`` whose kernel and stride
are computed from the feature size *seen during the trace*:

* the TorchScript exporter (``torch.onnx.export(..., dynamo=False)``, used here) refuses
  when height/width are dynamic: ``SymbolicValueError: Unsupported: ONNX export of
  operator adaptive_avg_pool2d, input size not accessible`` (torch 2.13; only the 1-bin
  case, a ``GlobalAveragePool``, exports);
* the dynamo exporter is reported to bake in the traced kernel instead, silently pooling
  the wrong windows at any other size (not checked here: it needs onnxscript).

Likewise mmseg's ``decode_head.predict_by_feat`` resizes the logits to the
``pad_shape`` (or ``img_shape``) of ``batch_img_metas[0]``, a Python tuple that the trace
records as a constant.

The fix
-------
:func:`adaptive_avg_pool2d` rebuilds PyTorch's exact adaptive pooling from the input's
traced size: bin ``i`` of ``b`` over a side of length ``n`` spans
``[floor(i*n/b), ceil((i+1)*n/b))``. Membership is an integer inequality between
``arange(n)`` and the bin indices, so the averaging matrices ``P_h [b, H]`` and
``P_w [b, W]`` are computed in the graph (``Shape``/``Range``/compare ops) and the pooled
map is ``P_h @ x @ P_w^T``: two ``MatMul``s that match PyTorch to float rounding
(~1e-7 relative) at every size, bins outnumbering the rows or columns included.
:class:`ExportableSegmentor` swaps every non-global ``nn.AdaptiveAvgPool2d`` of a deep
copy of the segmentor for it and resizes the logits to the input tensor's own (traced)
height and width. :func:`postprocess_segmentation` then does what mmseg's
``EncoderDecoder.postprocess_result`` does, on the host.
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

if TYPE_CHECKING:
    from mmseg.structures import SegDataSample

__all__ = ['ExportableAdaptiveAvgPool2d', 'ExportableSegmentor', 'adaptive_avg_pool2d',
           'postprocess_segmentation']

OutputSize = Union[int, None, Sequence[Union[int, None]]]

# Segmentor classes that are EncoderDecoders by inheritance but compute something the
# single-head export does not reproduce.
_UNSUPPORTED_SEGMENTORS = {
    'CascadeEncoderDecoder': 'its decode heads form a cascade (each stage refines the '
                             'previous one), which the single-head export does not run',
    'DepthEstimator': 'it estimates depth, not class labels',
}
_DYNAMIC_AXES = {0: 'batch', 2: 'height', 3: 'width'}


def _pair(output_size: OutputSize) -> tuple[int | None, int | None]:
    if isinstance(output_size, (tuple, list)):
        size = tuple(output_size)
    else:
        size = (output_size, output_size)
    if len(size) != 2 or not all(
            s is None or (isinstance(s, int) and not isinstance(s, bool) and s > 0)
            for s in size):
        raise ValueError('output_size must be a positive int or a pair of positive ints '
                         f'(None keeps that side), got {output_size!r}')
    return size  # type: ignore[return-value]


def _pool_matrix(length: int | Tensor, bins: int, dtype: torch.dtype,
                 device: torch.device) -> Tensor:
    """``[bins, length]`` matrix whose row ``i`` averages PyTorch's adaptive bin ``i``.

    ``length`` is a traced size during export, so the matrix follows the input.
    """
    # float32 index arithmetic is exact for sizes far beyond any image (< 2**24 / bins)
    # and keeps int64 out of the graph (TensorRT narrows it to int32).
    pos = torch.arange(length, dtype=torch.float32, device=device)[None, :]
    idx = torch.arange(bins, dtype=torch.float32, device=device)[:, None]
    # start_i = floor(i*n/b) <= p  <=>  (p+1)*b > i*n
    # p < ceil((i+1)*n/b) = end_i  <=>  p*b < (i+1)*n     (no division, no rounding)
    inside = ((pos + 1) * bins > idx * length) & (pos * bins < (idx + 1) * length)
    weights = inside.to(torch.float32)
    return (weights / weights.sum(dim=1, keepdim=True)).to(dtype)


def adaptive_avg_pool2d(x: Tensor, output_size: OutputSize) -> Tensor:
    """``F.adaptive_avg_pool2d`` built from standard ops that export with dynamic sizes.

    Same semantics as PyTorch (bins may overlap, and may outnumber the input rows or
    columns), for ``[..., H, W]`` inputs; ``output_size`` is an int or an ``(h, w)`` pair,
    ``None`` keeping that side. The bin boundaries are computed from ``x.shape`` inside
    the graph, so an exported model pools correctly at every input size.
    """
    out_h, out_w = _pair(output_size)
    lead = (None, ) * (x.dim() - 2)  # same rank as x: TensorRT's MatMul wants it
    if out_h is not None:
        p_h = _pool_matrix(x.shape[-2], out_h, x.dtype, x.device)
        x = torch.matmul(p_h[lead], x)
    if out_w is not None:
        p_w = _pool_matrix(x.shape[-1], out_w, x.dtype, x.device)
        x = torch.matmul(x, p_w.t()[lead])
    return x


class ExportableAdaptiveAvgPool2d(nn.Module):
    """Drop-in for ``nn.AdaptiveAvgPool2d`` that exports exactly at dynamic sizes."""

    def __init__(self, output_size: OutputSize):
        super().__init__()
        self.output_size = _pair(output_size)

    def forward(self, x: Tensor) -> Tensor:
        return adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f'output_size={self.output_size}'


def _is_global(pool: nn.AdaptiveAvgPool2d) -> bool:
    # 1x1 adaptive pooling exports as GlobalAveragePool, which follows the input size.
    size = pool.output_size
    return all(s == 1 for s in (size if isinstance(size, tuple) else (size, size)))


def _replace_adaptive_pools(module: nn.Module) -> list[str]:
    """Swap every non-global ``nn.AdaptiveAvgPool2d`` below ``module`` in place."""
    replaced = []
    for name, child in list(module.named_modules()):
        if isinstance(child, nn.AdaptiveAvgPool2d) and not _is_global(child):
            parent_name, _, attr = name.rpartition('.')
            parent = module.get_submodule(parent_name)
            setattr(parent, attr, ExportableAdaptiveAvgPool2d(child.output_size))
            replaced.append(name)
    return replaced


def _check_segmentor(model: nn.Module) -> None:
    from mmseg.models.segmentors import EncoderDecoder

    name = type(model).__name__
    for cls in type(model).__mro__:
        if cls.__name__ in _UNSUPPORTED_SEGMENTORS:
            raise TypeError(f'{name} is not supported for export: '
                            f'{_UNSUPPORTED_SEGMENTORS[cls.__name__]}; export a '
                            'single-head mmseg EncoderDecoder')
    if not isinstance(model, EncoderDecoder):
        raise TypeError('ExportableSegmentor needs an mmseg EncoderDecoder (e.g. '
                        f'UPerNet), got {name}')
    mode = (model.test_cfg or {}).get('mode', 'whole')
    if mode != 'whole':
        raise TypeError(f"test_cfg mode {mode!r} is not supported for export: only "
                        "'whole' inference is (slide inference crops windows in a Python "
                        "loop that depends on the image size); set "
                        "model.test_cfg.mode='whole'")
    if model.decode_head.out_channels == 1:
        raise TypeError('a decode head with out_channels=1 (sigmoid + threshold binary '
                        'segmentation) is not supported for export; use num_classes=2')


class ExportableSegmentor(nn.Module):
    """mmseg ``EncoderDecoder`` ('whole' inference) as a graph with dynamic B, H and W.

    ``forward(input)`` maps the preprocessed ``[B, 3, H, W]`` batch to ``seg_labels``
    ``[B, 1, H, W]`` int32 (the argmax over classes at the input resolution) and, with
    ``with_logits``, ``seg_logits`` ``[B, num_classes, H, W]`` float32 - what mmseg's
    ``EncoderDecoder.inference`` computes before cropping and resizing to the original
    image (:func:`postprocess_segmentation` does that on the host). The auxiliary head is
    dropped: it is a training-only loss.

    Args:
        model: a built mmseg ``EncoderDecoder``; deep-copied, the caller's is untouched.
        with_logits: also output the float logits.

    Raises:
        TypeError: for a segmentor that is not a single-head ``EncoderDecoder``
            (``CascadeEncoderDecoder``), a test_cfg mode other than 'whole', or a
            binary (``out_channels=1``) decode head.
    """

    task = 'segmentation'

    def __init__(self, model: nn.Module, with_logits: bool = False):
        super().__init__()
        _check_segmentor(model)
        model = copy.deepcopy(model).eval()
        if getattr(model, 'auxiliary_head', None) is not None:
            del model.auxiliary_head
        self.replaced_pools = _replace_adaptive_pools(model)
        self.model = model
        self.with_logits = bool(with_logits)
        self.align_corners = bool(model.decode_head.align_corners)
        self.num_classes = int(model.decode_head.num_classes)
        self.output_names: tuple[str, ...] = (('seg_labels', 'seg_logits') if with_logits
                                              else ('seg_labels', ))
        self.output_axes: dict[str, dict[int, str]] = {
            name: dict(_DYNAMIC_AXES) for name in self.output_names}
        # Eval for good: torch.onnx.export restores the wrapper's own mode afterwards,
        # which would otherwise put the BatchNorms of the copy into training mode.
        self.eval()

    def forward(self, input: Tensor) -> tuple[Tensor, ...]:  # noqa: A002 (ONNX name)
        feats = self.model.extract_feat(input)
        logits = self.model.decode_head.forward(feats)
        # decode_head.predict_by_feat would resize to the metas' pad_shape/img_shape,
        # constants in the trace; the input's own size is traced.
        logits = F.interpolate(logits, size=input.shape[2:], mode='bilinear',
                               align_corners=self.align_corners)
        labels = logits.argmax(dim=1, keepdim=True).to(torch.int32)
        return (labels, logits) if self.with_logits else (labels, )


def _valid_region(meta: dict, height: int, width: int) -> tuple[slice, slice]:
    """Rows and columns of the input that hold the image, not the padding."""
    padding = meta.get('img_padding_size', meta.get('padding_size'))
    if padding is not None:
        # mmseg's order: (left, right, top, bottom)
        left, right, top, bottom = (int(p) for p in padding)
        return slice(top, height - bottom), slice(left, width - right)
    if 'img_shape' in meta:
        # Padded elsewhere (bottom/right, as mmseg's stack_batch and mmdet pad) without
        # recording it: the image is the top-left img_shape.
        img_h, img_w = (int(s) for s in meta['img_shape'][:2])
        return slice(0, img_h), slice(0, img_w)
    return slice(0, height), slice(0, width)


def postprocess_segmentation(outputs: dict[str, np.ndarray],
                             batch_img_metas: Sequence[dict[str, Any]],
                             align_corners: bool = False) -> list[SegDataSample]:
    """Backend outputs of one batch -> mmseg ``SegDataSample``s, as
    ``EncoderDecoder.predict`` returns them.

    For each image: crop the padding (``img_padding_size``/``padding_size`` from the
    data preprocessor, else everything outside the top-left ``img_shape``), undo a flip
    recorded in the metas, and resize to ``ori_shape``. With ``seg_logits`` this is
    mmseg's ``postprocess_result`` exactly: the logits are resized bilinearly (with the
    decode head's ``align_corners``) and ``pred_sem_seg`` is their argmax. With
    ``seg_labels`` only, the labels are resized with nearest neighbour, which can differ
    from mmseg at class borders when ``ori_shape`` differs from the cropped shape (and is
    identical when they are equal).

    Args:
        outputs: ``seg_labels`` [B, 1, H, W] and optionally ``seg_logits`` [B, C, H, W].
        batch_img_metas: one metainfo dict per image (``SegDataSample.metainfo``).
        align_corners: the decode head's ``align_corners`` (False for UPerNet).

    Returns:
        One ``SegDataSample`` per image carrying its metainfo, ``pred_sem_seg`` (int64
        [1, h, w]) and, when logits were given, ``seg_logits`` (float32 [C, h, w]).
    """
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    if 'seg_labels' not in outputs:
        raise KeyError(f'segmentation outputs need `seg_labels`, got {sorted(outputs)}')
    labels = torch.from_numpy(np.asarray(outputs['seg_labels']))
    logits = outputs.get('seg_logits')
    logits = None if logits is None else torch.from_numpy(
        np.asarray(logits, dtype=np.float32))
    if labels.dim() != 4 or labels.shape[1] != 1:
        raise ValueError(f'seg_labels must be [B, 1, H, W], got {list(labels.shape)}')
    if len(batch_img_metas) != labels.shape[0]:
        raise ValueError(f'{len(batch_img_metas)} image metas for a batch of '
                         f'{labels.shape[0]} outputs')
    if logits is not None and (logits.dim() != 4 or logits.shape[0] != labels.shape[0]
                               or logits.shape[2:] != labels.shape[2:]):
        raise ValueError(f'seg_logits {list(logits.shape)} does not match seg_labels '
                         f'{list(labels.shape)}')

    height, width = labels.shape[2:]
    samples = []
    for i, meta in enumerate(batch_img_metas):
        rows, cols = _valid_region(meta, height, width)
        source = logits if logits is not None else labels
        data = source[i:i + 1, :, rows, cols]
        if meta.get('flip'):
            direction = meta.get('flip_direction')
            if direction not in ('horizontal', 'vertical'):
                raise ValueError(f'flip_direction must be horizontal or vertical, got '
                                 f'{direction!r}')
            data = data.flip(dims=(3, ) if direction == 'horizontal' else (2, ))
        ori_shape = tuple(int(s) for s in meta.get('ori_shape', data.shape[2:])[:2])
        sample = SegDataSample(metainfo=dict(meta))
        if logits is not None:
            # mmseg always interpolates, even to the same size (then an identity).
            data = F.interpolate(data, size=ori_shape, mode='bilinear',
                                 align_corners=align_corners).squeeze(0)
            pred = data.argmax(dim=0, keepdim=True)
            sample.set_data(dict(seg_logits=PixelData(data=data),
                                 pred_sem_seg=PixelData(data=pred)))
        else:
            if tuple(data.shape[2:]) != ori_shape:
                # label ids < 2**24 survive the float round trip exactly
                data = F.interpolate(data.float(), size=ori_shape, mode='nearest')
            sample.set_data(dict(pred_sem_seg=PixelData(data=data.squeeze(0).long())))
        samples.append(sample)
    return samples
