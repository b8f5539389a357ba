"""Export rewrite of mmdet RetinaNet and Mask R-CNN / Faster R-CNN inference.

mmdet's ``predict`` cannot be exported end to end: it filters with ``nonzero``, loops
over images and classes, clips boxes to ``img_shape`` read from Python metadata (a
constant in a trace) and pastes masks into the original image. :class:`ExportableDetector`
re-expresses the same computation on fixed-size tensors:

* candidate selection uses ``TopK`` on scores in which filtered candidates carry
  :data:`~.ops.INVALID_SCORE` (same set as mmdet's threshold + ``nms_pre``);
* mmdet's ``batched_nms`` (class or level offsets, then one NMS) becomes one ONNX
  ``NonMaxSuppression``; survivors are scattered back and ``TopK`` keeps
  ``max_per_img`` rows, so every output has a fixed K and padded rows carry
  label -1, score 0 and a zero box;
* RoI features come from ONNX ``RoiAlign`` on every FPN level, merged per RoI with
  mmdet's level mapping (``floor(log2(sqrt(area) / finest_scale))``);
* boxes are clipped to the network input (padded) size, which is all the graph knows.

Outputs: ``dets`` [B, K, 5], ``labels`` [B, K] int32 and, for Mask R-CNN, ``masks``
[B, K, M, M] (sigmoid of the label's mask logits). :func:`postprocess_detection`
turns them into ``DetDataSample`` predictions like mmdet's (rescaled boxes, pasted
binary masks). Differences to mmdet, both negligible in practice and bounded by the
verification tolerances: boxes are clipped to the padded input rather than to
``img_shape``, and RetinaNet's NMS runs before (not after) rescaling to the original
image. The Mask R-CNN second stage keeps the ``pre_top_k`` best (RoI, class)
candidates above ``score_thr`` before NMS, where mmdet keeps all of them.
"""
from __future__ import annotations

import copy
from typing import Sequence

import numpy as np
import torch
from mmengine.structures import InstanceData
from torch import Tensor, nn

from .ops import (INVALID_SCORE, batched_nms_keep, delta2bbox, gather_rows, grid_anchors,
                  input_hw, roi_align, topk_padded)

__all__ = ['ExportableDetector', 'postprocess_detection', 'SUPPORTED_DETECTORS']

SUPPORTED_DETECTORS = ('RetinaNet', 'MaskRCNN', 'FasterRCNN')


def _check_coder(head: nn.Module, where: str) -> tuple[tuple, tuple, float]:
    coder = head.bbox_coder
    if type(coder).__name__ != 'DeltaXYWHBBoxCoder':
        raise TypeError(f'{where} uses {type(coder).__name__}; the export rewrite '
                        'supports DeltaXYWHBBoxCoder only')
    if not coder.clip_border or coder.add_ctr_clamp:
        raise TypeError(f'{where}: the export rewrite needs clip_border=True and '
                        'add_ctr_clamp=False')
    # decode() is called with its default wh_ratio_clip everywhere in these heads
    return tuple(coder.means), tuple(coder.stds), 16 / 1000


def _drop_small(boxes: Tensor, scores: Tensor, cfg) -> Tensor:
    """mmdet's dense-head ``min_bbox_size`` filter (0 still drops empty boxes)."""
    min_size = cfg.get('min_bbox_size', -1)
    if min_size < 0:
        return scores
    ok = ((boxes[..., 2:] - boxes[..., :2]) > min_size).all(-1)
    return torch.where(ok, scores, torch.full_like(scores, INVALID_SCORE))


class ExportableDetector(nn.Module):
    """A built mmdet RetinaNet or Mask/Faster R-CNN (copied) as one traceable function."""

    task = 'detection'

    def __init__(self, model: nn.Module, pre_top_k: int = 3000):
        super().__init__()
        kind = type(model).__name__
        if kind not in SUPPORTED_DETECTORS:
            raise TypeError(f'cannot export detector {kind}: supported are '
                            f'{", ".join(SUPPORTED_DETECTORS)}')
        self.model = copy.deepcopy(model).eval()  # the caller's model stays as it was
        self.kind = kind
        self.pre_top_k = int(pre_top_k)
        if kind == 'RetinaNet':
            head = model.bbox_head
            if not head.use_sigmoid_cls:
                raise TypeError('RetinaNet export needs a sigmoid classifier')
            self.coder = _check_coder(head, 'bbox_head')
            cfg = head.test_cfg
        else:
            self.coder = _check_coder(model.rpn_head, 'rpn_head')
            self.rcnn_coder = _check_coder(model.roi_head.bbox_head, 'roi_head.bbox_head')
            if model.roi_head.bbox_head.reg_class_agnostic:
                raise TypeError('class-agnostic box regression is not supported')
            cfg = model.roi_head.test_cfg
        if cfg.get('nms', {}).get('type', 'nms') != 'nms':
            raise TypeError(f"only plain NMS exports, got {cfg.nms['type']}")
        self.max_per_img = int(cfg.max_per_img)
        self.with_mask = kind == 'MaskRCNN'
        self.output_names = ('dets', 'labels') + (('masks',) if self.with_mask else ())
        self.output_axes = {name: {0: 'batch'} for name in self.output_names}

    def forward(self, input: Tensor) -> tuple[Tensor, ...]:
        feats = self.model.extract_feat(input)
        hw = input_hw(input)
        if self.kind == 'RetinaNet':
            boxes, scores, labels = self._retina_candidates(feats, hw)
            cfg = self.model.bbox_head.test_cfg
        else:
            boxes, scores, labels = self._rcnn_candidates(feats, hw)
            cfg = self.model.roi_head.test_cfg
        kept, order = batched_nms_keep(boxes, scores, labels, cfg.nms.iou_threshold,
                                       self.max_per_img)
        valid = kept > INVALID_SCORE
        boxes = gather_rows(boxes, order, self.max_per_img) * valid[..., None]
        labels = torch.where(valid, gather_rows(labels, order, self.max_per_img),
                             torch.full_like(order, -1))
        dets = torch.cat([boxes, (kept * valid)[..., None]], dim=-1)
        outs = (dets, labels.to(torch.int32))
        if self.with_mask:
            outs += (self._masks(feats, boxes, labels),)
        return outs

    # -- dense heads (RetinaNet, RPN) ---------------------------------------------
    def _dense_candidates(self, head, feats, hw, score_thr: float | None):
        """mmdet's dense-head ``_predict_by_feat_single`` up to NMS, for a sigmoid
        anchor head: per level, the (anchor, class) pairs with score > ``score_thr``
        (None: all, as RPN), the ``nms_pre`` best of them (filter_scores_and_topk),
        decoded and clipped; empty boxes are dropped (``min_bbox_size``).

        Returns boxes [B, N, 4], scores [B, N], class ids [B, N], level ids [B, N].
        """
        cfg = head.test_cfg
        cls_scores, bbox_preds = head(feats)
        num_classes = head.cls_out_channels
        nms_pre = cfg.get('nms_pre', -1)
        levels = []
        for lvl, (cls, reg) in enumerate(zip(cls_scores, bbox_preds)):
            anchors = grid_anchors(head.prior_generator.base_anchors[lvl], cls,
                                   head.prior_generator.strides[lvl])
            b = cls.shape[0]
            scores = cls.permute(0, 2, 3, 1).reshape(b, -1).sigmoid()
            deltas = reg.permute(0, 2, 3, 1).reshape(b, -1, 4)
            if score_thr is not None:
                scores = torch.where(scores > score_thr, scores,
                                     torch.full_like(scores, INVALID_SCORE))
            if nms_pre > 0:
                scores, idx = topk_padded(scores, nms_pre, INVALID_SCORE)
                # padded picks (idx past the end) and filtered ones read anchor 0;
                # their score is invalid, so they never survive NMS
                idx = torch.where(scores > INVALID_SCORE, idx, torch.zeros_like(idx))
            else:
                idx = torch.arange(scores.shape[1], device=scores.device).expand_as(scores)
            anchor_idx = idx // num_classes
            boxes = delta2bbox(anchors[anchor_idx],
                               deltas.gather(1, anchor_idx[..., None].expand(-1, -1, 4)),
                               *self.coder[:2], hw, self.coder[2])
            levels.append((boxes, scores, idx % num_classes, torch.full_like(idx, lvl)))
        boxes, scores, labels, level_ids = (torch.cat(t, 1) for t in zip(*levels))
        return boxes, _drop_small(boxes, scores, cfg), labels, level_ids

    def _retina_candidates(self, feats, hw):
        head = self.model.bbox_head
        boxes, scores, labels, _ = self._dense_candidates(
            head, feats, hw, score_thr=head.test_cfg.get('score_thr', 0))
        return boxes, scores, labels

    # -- two stage ---------------------------------------------------------------
    def _proposals(self, feats, hw):
        """RPN proposals: mmdet runs NMS per FPN level (level ids as classes)."""
        cfg = self.model.rpn_head.test_cfg
        boxes, scores, _, levels = self._dense_candidates(self.model.rpn_head, feats, hw,
                                                          score_thr=None)
        kept, order = batched_nms_keep(boxes, scores, levels, cfg.nms.iou_threshold,
                                       cfg.max_per_img)
        return gather_rows(boxes, order, cfg.max_per_img), kept > INVALID_SCORE

    def _roi_features(self, extractor, feats, boxes: Tensor) -> Tensor:
        """mmdet ``SingleRoIExtractor`` for [B, R, 4] boxes -> [B*R, C, S, S]."""
        b, r = boxes.shape[:2]
        flat = boxes.reshape(-1, 4)
        batch_idx = torch.arange(b, device=boxes.device)[:, None].expand(b, r).reshape(-1)
        num_levels = len(extractor.featmap_strides)
        scale = torch.sqrt((flat[:, 2] - flat[:, 0]) * (flat[:, 3] - flat[:, 1]))
        level = torch.floor(torch.log2(scale / extractor.finest_scale + 1e-6))
        level = level.clamp(min=0, max=num_levels - 1)
        out = None
        for lvl in range(num_levels):
            layer = extractor.roi_layers[lvl]
            if not layer.aligned or layer.pool_mode != 'avg':
                raise TypeError('RoI export needs RoIAlign(aligned=True, pool_mode=avg)')
            feat = roi_align(feats[lvl], flat, batch_idx, layer.output_size[0],
                             layer.spatial_scale, layer.sampling_ratio)
            picked = (level == lvl).to(feat.dtype).view(-1, 1, 1, 1) * feat
            out = picked if out is None else out + picked
        return out

    def _rcnn_candidates(self, feats, hw):
        roi_head = self.model.roi_head
        cfg = roi_head.test_cfg
        rois, roi_valid = self._proposals(feats, hw)
        b, r = rois.shape[:2]
        roi_feats = self._roi_features(roi_head.bbox_roi_extractor,
                                       feats[:roi_head.bbox_roi_extractor.num_inputs],
                                       rois)
        cls_score, bbox_pred = roi_head.bbox_head(roi_feats)
        num_classes = roi_head.bbox_head.num_classes
        scores = cls_score.softmax(-1)[:, :num_classes].reshape(b, r * num_classes)
        deltas = bbox_pred.reshape(b, r, num_classes, 4)
        boxes = delta2bbox(rois[:, :, None, :].expand(-1, -1, num_classes, -1), deltas,
                           *self.rcnn_coder[:2], hw, self.rcnn_coder[2])
        boxes = boxes.reshape(b, r * num_classes, 4)
        valid = (scores > cfg.score_thr) & roi_valid.repeat_interleave(num_classes, 1)
        scores = torch.where(valid, scores, torch.full_like(scores, INVALID_SCORE))
        scores, idx = topk_padded(scores, self.pre_top_k, INVALID_SCORE)
        idx = torch.where(scores > INVALID_SCORE, idx, torch.zeros_like(idx))
        boxes = boxes.gather(1, idx[..., None].expand(-1, -1, 4))
        return boxes, scores, idx % num_classes

    def _masks(self, feats, boxes: Tensor, labels: Tensor) -> Tensor:
        roi_head = self.model.roi_head
        extractor = roi_head.mask_roi_extractor
        mask_feats = self._roi_features(extractor, feats[:extractor.num_inputs], boxes)
        logits = roi_head.mask_head(mask_feats)  # [B*K, C, M, M]
        flat_labels = labels.reshape(-1)
        # padded rows (-1) read class 0; Where, not an int64 Clip (TensorRT: float Clip)
        flat_labels = torch.where(flat_labels >= 0, flat_labels, torch.zeros_like(flat_labels))
        picked = logits[torch.arange(logits.shape[0], device=logits.device), flat_labels]
        b, k = labels.shape
        return picked.sigmoid().reshape(b, k, picked.shape[-2], picked.shape[-1])


def postprocess_detection(outputs: dict[str, np.ndarray], batch_img_metas: Sequence[dict],
                          mask_thr_binary: float = 0.5) -> list[InstanceData]:
    """Backend outputs of a batch -> mmdet ``pred_instances`` per image, as mmdet's
    ``predict(rescale=True)`` returns them: boxes clipped to ``img_shape`` and divided
    by ``scale_factor`` (original-image pixels), padded rows dropped, masks pasted with mmdet's
    ``_do_paste_mask`` and thresholded at ``mask_thr_binary``."""
    from mmdet.models.roi_heads.mask_heads.fcn_mask_head import _do_paste_mask
    dets = torch.from_numpy(np.asarray(outputs['dets'], dtype=np.float32))
    labels = torch.from_numpy(np.asarray(outputs['labels'])).long()
    masks = outputs.get('masks')
    results = []
    for i, meta in enumerate(batch_img_metas):
        keep = labels[i] >= 0
        inst = InstanceData(metainfo=meta)
        scale = dets.new_tensor(meta['scale_factor']).repeat(2)
        # the graph clipped to the padded input; mmdet clips to the resized image
        h, w = meta['img_shape'][:2]
        boxes = dets[i, keep, :4]
        inst.bboxes = torch.minimum(boxes, dets.new_tensor([w, h, w, h])) / scale
        inst.scores = dets[i, keep, 4]
        inst.labels = labels[i, keep]
        if masks is not None:
            h, w = meta['ori_shape'][:2]
            probs = torch.from_numpy(np.asarray(masks[i], dtype=np.float32))[keep]
            pasted = torch.zeros((len(probs), h, w), dtype=torch.bool)
            paste_boxes = boxes / scale
            for j in range(len(probs)):  # one by one like mmdet on CPU (skip_empty)
                # paste over the box the mask was predicted for (clipped to the
                # padded input only), so the mask keeps its geometry; a box wholly
                # in the padding has no pixel in the image
                if paste_boxes[j, 0] >= w or paste_boxes[j, 1] >= h:
                    continue
                chunk, spatial = _do_paste_mask(probs[j:j + 1, None],
                                                paste_boxes[j:j + 1], h, w,
                                                skip_empty=True)
                pasted[(slice(j, j + 1),) + spatial] = chunk >= mask_thr_binary
            inst.masks = pasted
        results.append(inst)
    return results
