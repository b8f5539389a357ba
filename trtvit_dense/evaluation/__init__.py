"""Accuracy evaluation through the same mmdet/mmseg evaluators our configs use."""
from .coco import (COCO_STATS_NAMES, coco_category_ids, coco_gt_as_predictions,
                   coco_results_to_predictions, evaluate_coco, load_coco)
from .seg import evaluate_segmentation

__all__ = [
    'COCO_STATS_NAMES', 'coco_category_ids', 'coco_gt_as_predictions',
    'coco_results_to_predictions', 'evaluate_coco', 'evaluate_segmentation', 'load_coco'
]
