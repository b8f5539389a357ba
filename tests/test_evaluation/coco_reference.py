"""Test support: COCO box/mask evaluation through mmdet's ``CocoMetric``, the evaluator our detection
configs use, plus converters that turn ground truth or official COCO results files into
the predictions it consumes.

Predictions are what ``CocoMetric.process`` receives from the test loop
(``DetDataSample.to_dict()``), one dict per image::

    dict(img_id=int, ori_shape=(h, w),
         pred_instances=dict(bboxes=Tensor[N, 4] (xyxy), scores=Tensor[N],
                             labels=Tensor[N] (int64), masks=[RLE dict] * N,
                             mask_scores=Tensor[N]))  # masks, mask_scores optional

Labels are mmdet's contiguous indices: label ``i`` is the ``i``-th id of
``getCatIds(catNms=classes)``, the mapping both ``CocoDataset`` and ``CocoMetric`` use.
"""
import json
from pathlib import Path

import numpy as np
import torch
from mmdet.evaluation import CocoMetric
from pycocotools.coco import COCO

__all__ = [
    'COCO_STATS_NAMES', 'load_coco', 'coco_category_ids', 'coco_gt_as_predictions',
    'coco_results_to_predictions', 'evaluate_coco'
]

# The official 12-number summary (COCOeval.stats), in order. The AR1/AR10/AR100 names
# hold for the official maxDets (1, 10, 100), i.e. evaluate_coco's default proposal_nums.
COCO_STATS_NAMES = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10', 'AR100',
                    'ARs', 'ARm', 'ARl')

# CocoMetric's `metric_items` names for COCOeval.stats[0..11]. Its AR names are fixed
# to its default proposal_nums (100, 300, 1000): 'AR@100' is stats[6], i.e. recall at
# proposal_nums[0] whatever that is, so we only use them as indices into the summary.
_MMDET_STATS_ITEMS = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l', 'AR@100',
                      'AR@300', 'AR@1000', 'AR_s@1000', 'AR_m@1000', 'AR_l@1000')
# What CocoMetric reports when `metric_items` is left at None, as in our configs.
_MMDET_DEFAULT_ITEMS = _MMDET_STATS_ITEMS[:6]


def _load_json(path, what):
    path = Path(path)
    if not path.is_file():
        raise ValueError(f'{what} file {path} does not exist')
    try:
        with open(path) as f:
            return json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f'{path} is not a COCO JSON file ({err})') from None


def load_coco(ann_file):
    """Load a COCO annotation file into a ``COCO`` object, with a ``ValueError`` that
    names the file when it is missing or not COCO instance annotations."""
    dataset = _load_json(ann_file, 'annotation')
    if not (isinstance(dataset, dict) and isinstance(dataset.get('images'), list)
            and isinstance(dataset.get('categories'), list)):
        raise ValueError(f'{ann_file} is not a COCO JSON annotation file: expected an '
                         'object with "images" and "categories" lists')
    coco = COCO()
    coco.dataset = dataset
    coco.createIndex()
    return coco


def coco_category_ids(coco, classes=None):
    """Category ids in label order (label ``i`` is ``ids[i]``), as mmdet's
    ``CocoDataset`` and ``CocoMetric`` derive them from the class names."""
    if classes is None:
        return coco.getCatIds()
    missing = set(classes) - {cat['name'] for cat in coco.dataset['categories']}
    if missing:
        raise ValueError(f'classes {sorted(missing)} are not categories of the annotations')
    return coco.getCatIds(catNms=list(classes))


def _prediction(img, bboxes, scores, labels, masks=None, mask_scores=None):
    # float64, not mmdet's usual float32: the official fake results put IoUs exactly on
    # the thresholds (0.8000000000000002 vs 0.8); in float32 they fall below and the
    # published box AP 0.505 drops to 0.504.
    instances = dict(
        bboxes=torch.as_tensor(np.asarray(bboxes, np.float64).reshape(-1, 4)),
        scores=torch.as_tensor(scores, dtype=torch.float64),
        labels=torch.as_tensor(labels, dtype=torch.int64))
    if masks is not None:
        instances['masks'] = masks
    if mask_scores is not None:
        instances['mask_scores'] = torch.as_tensor(mask_scores, dtype=torch.float64)
    return dict(img_id=img['id'], ori_shape=(img['height'], img['width']),
                pred_instances=instances)


def _xywh_to_xyxy(box):
    x, y, w, h = box
    return [x, y, x + w, y + h]


def coco_gt_as_predictions(ann_file, classes=None):
    """Ground truth fed back as predictions (score 1), one dict per image in file order.

    Crowd/ignored annotations are left out: COCOeval treats them as regions where
    detections are neither rewarded nor penalised, not as objects to find. Masks (RLE)
    are included when every annotation has a segmentation.
    """
    coco = load_coco(ann_file)
    label_of = {cat_id: i for i, cat_id in enumerate(coco_category_ids(coco, classes))}
    with_masks = all('segmentation' in ann for ann in coco.anns.values())
    predictions = []
    for img_id in coco.getImgIds():
        anns = [
            ann for ann in coco.imgToAnns[img_id]
            if not (ann.get('iscrowd', 0) or ann.get('ignore', 0))
            and ann['category_id'] in label_of
        ]
        predictions.append(_prediction(
            coco.imgs[img_id], [_xywh_to_xyxy(ann['bbox']) for ann in anns],
            [1.0] * len(anns), [label_of[ann['category_id']] for ann in anns],
            masks=[coco.annToRLE(ann) for ann in anns] if with_masks else None))
    return predictions


def _load_results(path, key):
    results = _load_json(path, 'results')
    fields = {'image_id', 'category_id', 'score', key}
    if not (isinstance(results, list)
            and all(isinstance(r, dict) and fields <= r.keys() for r in results)):
        raise ValueError(f'{path} is not a COCO results JSON file: expected a list of '
                         f'objects with {sorted(fields)}')
    return results


def coco_results_to_predictions(ann_file, bbox_json, segm_json=None, classes=None):
    """Official COCO results files (``[{image_id, category_id, bbox (xywh), score}]``
    and, optionally, the matching ``segmentation`` file) as per-image predictions, one
    dict per image of ``ann_file`` in file order, results kept in file order.

    The two files must list the same detections in the same order (as the official
    fake results do). Results of categories outside ``classes`` are dropped.
    """
    coco = load_coco(ann_file)
    label_of = {cat_id: i for i, cat_id in enumerate(coco_category_ids(coco, classes))}
    boxes = _load_results(bbox_json, 'bbox')
    segms = None if segm_json is None else _load_results(segm_json, 'segmentation')
    if segms is not None and ([(r['image_id'], r['category_id']) for r in boxes]
                              != [(r['image_id'], r['category_id']) for r in segms]):
        raise ValueError(f'{segm_json} does not list the same detections as {bbox_json} '
                         '(image_id, category_id in the same order)')

    kept = {img_id: [] for img_id in coco.getImgIds()}
    for i, result in enumerate(boxes):
        if result['image_id'] not in kept:
            raise ValueError(f'{bbox_json}: image_id {result["image_id"]} is not an image '
                             f'of {ann_file}')
        if result['category_id'] not in coco.cats:
            raise ValueError(f'{bbox_json}: category_id {result["category_id"]} is not '
                             f'among the categories of {ann_file}')
        if result['category_id'] in label_of:
            kept[result['image_id']].append(i)

    predictions = []
    for img_id, idx in kept.items():
        masks = mask_scores = None
        if segms is not None:
            # annToRLE also accepts polygons and uncompressed RLE
            masks = [coco.annToRLE(segms[i]) for i in idx]
            mask_scores = [segms[i]['score'] for i in idx]
        predictions.append(_prediction(
            coco.imgs[img_id], [_xywh_to_xyxy(boxes[i]['bbox']) for i in idx],
            [boxes[i]['score'] for i in idx],
            [label_of[boxes[i]['category_id']] for i in idx], masks, mask_scores))
    return predictions


def _copy_masks(prediction):
    # CocoMetric rewrites RLE counts in place; leave the caller's masks alone.
    instances = prediction['pred_instances']
    if 'masks' not in instances:
        return prediction
    masks = [dict(mask) for mask in instances['masks']]
    return dict(prediction, pred_instances=dict(instances, masks=masks))


def evaluate_coco(ann_file, predictions, metrics=('bbox', 'segm'),
                  proposal_nums=(1, 10, 100), classes=None):
    """Evaluate per-image predictions with mmdet's ``CocoMetric`` against ``ann_file``.

    Returns what ``CocoMetric`` reports with our configs' settings (``coco/bbox_mAP``,
    ``coco/bbox_mAP_50``, ... ``coco/segm_mAP_l``) plus ``coco/<metric>_stats``: the
    full COCOeval summary, 12 numbers in :data:`COCO_STATS_NAMES` order, rounded to 3
    decimals by mmdet. ``proposal_nums`` becomes COCOeval's maxDets; mmdet's default
    (100, 300, 1000) is not the official (1, 10, 100): COCOeval reads AP at 100
    detections but AP50..APl at proposal_nums[2] and AR at each of them (and AP is -1
    when 100 is not among them).
    """
    coco = load_coco(ann_file)
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    unknown = set(metrics) - {'bbox', 'segm'}
    if unknown or not metrics:
        raise ValueError(f'metrics must be among "bbox", "segm", got {metrics}')
    if len(proposal_nums) != 3:
        raise ValueError('proposal_nums must hold the 3 maxDets of the COCO summary, '
                         f'got {proposal_nums}')
    if not any(len(p['pred_instances']['labels']) for p in predictions):
        raise ValueError('predictions hold no instances to evaluate')
    if 'segm' in metrics and not all('masks' in p['pred_instances'] for p in predictions):
        raise ValueError('"segm" needs masks in every prediction\'s pred_instances')
    if classes is None:
        classes = [coco.cats[cat_id]['name'] for cat_id in coco.getCatIds()]
    coco_category_ids(coco, classes)  # raises on unknown class names
    for p in predictions:
        if p['img_id'] not in coco.imgs:
            raise ValueError(f'img_id {p["img_id"]} is not an image of {ann_file}')
        labels = p['pred_instances']['labels']
        if len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < len(classes):
            raise ValueError(f'img_id {p["img_id"]}: labels must lie in '
                             f'[0, {len(classes)}), one per class')

    metric = CocoMetric(ann_file=str(ann_file), metric=metrics,
                        proposal_nums=proposal_nums, metric_items=_MMDET_STATS_ITEMS,
                        format_only=False, backend_args=None)
    metric.dataset_meta = dict(classes=tuple(classes))
    metric.process({}, [_copy_masks(p) for p in predictions])
    reported = metric.evaluate(len(predictions))

    results = {}
    for name in metrics:
        results.update({f'coco/{name}_{item}': reported[f'coco/{name}_{item}']
                        for item in _MMDET_DEFAULT_ITEMS})
        results[f'coco/{name}_stats'] = tuple(reported[f'coco/{name}_{item}']
                                              for item in _MMDET_STATS_ITEMS)
    return results

