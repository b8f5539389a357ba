"""Export-friendly building blocks of the detection post-processing.

Each function runs eagerly in PyTorch and traces (``torch.onnx.export(dynamo=False)``)
into standard ONNX operators whose sizes follow the input tensor, never the trace:

* :func:`nms_selected`: ONNX ``NonMaxSuppression`` (eager: ``mmcv.ops.nms``, the kernel
  mmdet uses), so the exported graph needs no plugin;
* :func:`roi_align`: ONNX ``RoiAlign`` (opset 16, ``half_pixel`` = mmcv's
  ``aligned=True``); mmcv's own symbolic emits the opset-10 form, which clamps small
  RoIs to one pixel and so differs from ``aligned=True``;
* :func:`topk_padded`: ``TopK`` with a constant ``k`` that still works when fewer than
  ``k`` candidates exist (small inputs): the candidates are padded with a fill value
  first, so no ``min(k, n)`` on a traced size is needed;
* :func:`grid_anchors` and :func:`delta2bbox`: mmdet's anchor grid and
  ``DeltaXYWHBBoxCoder.decode`` with the feature/input size taken from tensors.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor

__all__ = ['nms_selected', 'roi_align', 'topk_padded', 'grid_anchors', 'delta2bbox',
           'batched_nms_keep', 'gather_rows', 'input_hw', 'INVALID_SCORE']

INVALID_SCORE = -1.0  # scores of candidates that must not survive (all real ones >= 0)


class _NonMaxSuppression(torch.autograd.Function):
    """ONNX ``NonMaxSuppression`` (center_point_box=0): boxes [B, N, 4], scores
    [B, C, N] -> selected [S, 3] int64 rows (batch, class, box)."""

    @staticmethod
    def forward(ctx, boxes: Tensor, scores: Tensor, max_output_boxes_per_class: int,
                iou_threshold: float, score_threshold: float) -> Tensor:
        from mmcv.ops import nms
        selected = []
        for b in range(scores.shape[0]):
            for c in range(scores.shape[1]):
                idx = (scores[b, c] > score_threshold).nonzero(as_tuple=False).view(-1)
                if idx.numel() == 0:
                    continue
                _, keep = nms(boxes[b, idx], scores[b, c, idx], iou_threshold)
                keep = idx[keep[:max_output_boxes_per_class]]
                selected.append(torch.stack([torch.full_like(keep, b),
                                             torch.full_like(keep, c), keep], dim=1))
        if not selected:
            return boxes.new_zeros((0, 3), dtype=torch.long)
        return torch.cat(selected).long()

    @staticmethod
    def symbolic(g, boxes, scores, max_output_boxes_per_class, iou_threshold,
                 score_threshold):
        def const(value, dtype):
            return g.op('Constant', value_t=torch.tensor([value], dtype=dtype))
        return g.op('NonMaxSuppression', boxes, scores,
                    const(max_output_boxes_per_class, torch.long),
                    const(iou_threshold, torch.float32),
                    const(score_threshold, torch.float32), center_point_box_i=0)


def nms_selected(boxes: Tensor, scores: Tensor, max_output_boxes_per_class: int,
                 iou_threshold: float, score_threshold: float) -> Tensor:
    """ONNX ``NonMaxSuppression``: keeps boxes with score > ``score_threshold``."""
    return _NonMaxSuppression.apply(boxes, scores, int(max_output_boxes_per_class),
                                    float(iou_threshold), float(score_threshold))


def batched_nms_keep(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float,
                     keep_top_k: int) -> tuple[Tensor, Tensor]:
    """mmdet's ``batched_nms`` (boxes of different ``idxs`` never suppress each other)
    for a batch, as one single-class ``NonMaxSuppression``.

    Like mmdet, boxes are shifted by ``idx * (max coordinate + 1)`` so groups cannot
    overlap; the max is taken over the valid candidates of each image, as mmdet takes
    it after thresholding. ``scores`` of candidates to drop must be ``INVALID_SCORE``.

    Returns ``(kept_scores, order)``: the ``keep_top_k`` best surviving candidates of
    each image as indices into N (``order`` [B, K]) and their scores (``INVALID_SCORE``
    where fewer survived).
    """
    valid = scores > INVALID_SCORE
    masked = torch.where(valid[..., None], boxes, torch.zeros_like(boxes))
    max_coordinate = masked.flatten(1).amax(dim=1)  # [B]
    offsets = idxs.to(boxes.dtype) * (max_coordinate[:, None] + 1)
    boxes_for_nms = boxes + offsets[..., None]
    selected = nms_selected(boxes_for_nms, scores[:, None], keep_top_k, iou_threshold,
                            INVALID_SCORE / 2)
    batch_idx, box_idx = selected[:, 0], selected[:, 2]
    kept = torch.full_like(scores, INVALID_SCORE)
    kept = kept.index_put((batch_idx, box_idx), scores[batch_idx, box_idx])
    kept_scores, order = topk_padded(kept, keep_top_k, INVALID_SCORE)
    return kept_scores, order


def topk_padded(scores: Tensor, k: int, fill: float) -> tuple[Tensor, Tensor]:
    """``scores.topk(k, dim=1)`` for [B, N] scores even when N < k: ``fill`` entries
    are appended (their indices are >= N; gather companions with :func:`gather_rows`
    after padding them the same way)."""
    pad = scores.new_full((scores.shape[0], k), fill)
    return torch.cat([scores, pad], dim=1).topk(k, dim=1)


def gather_rows(x: Tensor, index: Tensor, k: int) -> Tensor:
    """``x[b, index[b]]`` for [B, N, ...] ``x`` padded with ``k`` zero rows, so indices
    from :func:`topk_padded` that point past N select zeros."""
    pad = x.new_zeros((x.shape[0], k) + tuple(x.shape[2:]))
    x = torch.cat([x, pad], dim=1)
    index = index.view(index.shape + (1,) * (x.dim() - 2)).expand(
        tuple(index.shape) + tuple(x.shape[2:]))
    return x.gather(1, index)


class _RoiAlign(torch.autograd.Function):
    """ONNX ``RoiAlign`` (opset >= 16) == ``mmcv.ops.roi_align(..., aligned=True)``."""

    @staticmethod
    def forward(ctx, feat: Tensor, boxes: Tensor, batch_indices: Tensor, output_size: int,
                spatial_scale: float, sampling_ratio: int) -> Tensor:
        from mmcv.ops import roi_align as mmcv_roi_align
        rois = torch.cat([batch_indices[:, None].to(boxes.dtype), boxes], dim=1)
        return mmcv_roi_align(feat, rois, (output_size, output_size), spatial_scale,
                              sampling_ratio, 'avg', True)

    @staticmethod
    def symbolic(g, feat, boxes, batch_indices, output_size, spatial_scale,
                 sampling_ratio):
        return g.op('RoiAlign', feat, boxes, batch_indices,
                    coordinate_transformation_mode_s='half_pixel', mode_s='avg',
                    output_height_i=output_size, output_width_i=output_size,
                    sampling_ratio_i=max(0, sampling_ratio),
                    spatial_scale_f=spatial_scale)


def roi_align(feat: Tensor, boxes: Tensor, batch_indices: Tensor, output_size: int,
              spatial_scale: float, sampling_ratio: int = 0) -> Tensor:
    """RoIAlign of ``boxes`` [R, 4] (input pixels) on ``feat`` [B, C, h, w]."""
    return _RoiAlign.apply(feat, boxes, batch_indices.long(), int(output_size),
                           float(spatial_scale), int(sampling_ratio))


def input_hw(x: Tensor) -> Tensor:
    """(H, W) of an NCHW tensor as an int64 tensor that traces into ``Shape``."""
    return torch._shape_as_tensor(x)[2:]


def grid_anchors(base_anchors: Tensor, feat: Tensor, stride: Sequence[int]) -> Tensor:
    """mmdet ``AnchorGenerator.single_level_grid_priors`` ([h*w*A, 4], y-major, then x,
    then the A base anchors) with h and w read from ``feat``'s traced shape."""
    h, w = feat.shape[-2:]
    dev, dtype = feat.device, base_anchors.dtype
    shift_x = torch.arange(w, device=dev).to(dtype) * stride[0]
    shift_y = torch.arange(h, device=dev).to(dtype) * stride[1]
    xx = shift_x[None, :].expand(h, w).reshape(-1)
    yy = shift_y[:, None].expand(h, w).reshape(-1)
    shifts = torch.stack([xx, yy, xx, yy], dim=-1)
    return (shifts[:, None, :] + base_anchors.to(dev)[None]).reshape(-1, 4)


def delta2bbox(rois: Tensor, deltas: Tensor, means: Sequence[float],
               stds: Sequence[float], max_hw: Tensor,
               wh_ratio_clip: float = 16 / 1000) -> Tensor:
    """mmdet ``delta2bbox`` for [..., 4] rois and deltas, clipped to ``max_hw`` ([2]
    tensor: height and width of the network input, see :func:`input_hw`)."""
    means = deltas.new_tensor(means)
    stds = deltas.new_tensor(stds)
    d = deltas * stds + means
    max_ratio = abs(math.log(wh_ratio_clip))
    pxy = (rois[..., :2] + rois[..., 2:]) * 0.5
    pwh = rois[..., 2:] - rois[..., :2]
    gxy = pxy + pwh * d[..., :2]
    gwh = pwh * d[..., 2:].clamp(min=-max_ratio, max=max_ratio).exp()
    x1y1 = gxy - gwh * 0.5
    x2y2 = gxy + gwh * 0.5
    limit = max_hw.flip(0).repeat(2).to(deltas.dtype)  # (w, h, w, h)
    boxes = torch.cat([x1y1, x2y2], dim=-1)
    return torch.minimum(boxes.clamp(min=0), limit)
