"""Test support: semantic segmentation evaluation through mmseg's ``IoUMetric``, the evaluator our
segmentation configs use, on plain label maps."""
import numpy as np
import torch
from mmseg.evaluation import IoUMetric

__all__ = ['evaluate_segmentation']


def evaluate_segmentation(gt_maps, pred_maps, classes, ignore_index=255,
                          iou_metrics=('mIoU', )):
    """Evaluate predicted label maps against ground truth with mmseg's ``IoUMetric``.

    Args:
        gt_maps, pred_maps: sequences of 2-D integer label maps of matching shapes;
            ground-truth pixels equal to ``ignore_index`` are not counted.
        classes: class names (their number fixes the label range).

    Returns:
        ``IoUMetric``'s summary (``aAcc``, ``mIoU``, ``mAcc``, ... in percent, means over
        the classes that are not NaN) plus ``per_class``: the per-class arrays behind it
        (percent, unrounded; NaN for a class absent from both ground truth and
        prediction), which mmseg only logs.
    """
    if len(gt_maps) != len(pred_maps) or not len(gt_maps):
        raise ValueError(f'expected as many predictions as ground-truth maps (at least '
                         f'one), got {len(pred_maps)} and {len(gt_maps)}')
    num_classes = len(classes)
    samples = []
    for i, (gt, pred) in enumerate(zip(gt_maps, pred_maps)):
        gt, pred = np.asarray(gt), np.asarray(pred)
        if gt.ndim != 2 or gt.shape != pred.shape:
            raise ValueError(f'map {i}: expected 2-D label maps of the same shape, got '
                             f'ground truth {gt.shape} and prediction {pred.shape}')
        # torch.histc in IoUMetric silently drops labels outside [0, num_classes)
        if pred.min() < 0 or pred.max() >= num_classes:
            raise ValueError(f'map {i}: predicted labels must lie in [0, {num_classes})')
        valid = gt[gt != ignore_index]
        if valid.size and (valid.min() < 0 or valid.max() >= num_classes):
            raise ValueError(f'map {i}: ground-truth labels must lie in [0, {num_classes}) '
                             f'or equal ignore_index {ignore_index}')
        samples.append(dict(gt_sem_seg=dict(data=torch.from_numpy(gt.astype(np.int64))),
                            pred_sem_seg=dict(data=torch.from_numpy(pred.astype(int)))))

    metric = IoUMetric(ignore_index=ignore_index, iou_metrics=list(iou_metrics))
    metric.dataset_meta = dict(classes=tuple(classes))
    metric.process({}, samples)
    totals = [sum(areas) for areas in zip(*metric.results)]
    per_class = IoUMetric.total_area_to_metrics(*totals, metrics=list(iou_metrics))
    per_class.pop('aAcc')
    results = metric.evaluate(len(samples))
    results['per_class'] = {name: value * 100 for name, value in per_class.items()}
    return results
