"""Evaluation on the real sample data through the evaluators our configs use (mmdet's
CocoMetric, mmseg's IoUMetric), plus known answers and bad input on tiny files."""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from coco_reference import (COCO_STATS_NAMES, coco_gt_as_predictions,
                            coco_results_to_predictions, evaluate_coco)
from seg_reference import evaluate_segmentation



def parse_cocoapi_summary(text):
    """{'bbox': [12 floats], 'segm': [...]} from the printed COCOeval summaries."""
    summaries = {}
    for block in text.split('type=')[1:]:
        iou_type = block.split()[0]
        summaries[iou_type] = [float(v) for v in re.findall(r'\] = (-?\d\.\d+)', block)]
    return summaries


# ---------------------------------------------------------------- COCO128 (mmdet)


@pytest.fixture(scope='module')
def coco128(shared_data):
    from mmdet.datasets import CocoDataset
    root = shared_data('coco128')
    dataset = CocoDataset(data_root=str(root),
                          ann_file='annotations/instances_train2017.json',
                          data_prefix=dict(img='train2017/'),
                          filter_cfg=dict(filter_empty_gt=False), pipeline=[],
                          test_mode=True)
    return dataset, root / 'annotations' / 'instances_train2017.json'


def test_coco128_dataset_loads_every_object(coco128):
    dataset, _ = coco128
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    instances = [inst for info in infos for inst in info['instances']]
    assert len(dataset) == 128
    # mmdet keeps crowd annotations as instances with ignore_flag=1
    assert len(instances) == 939
    assert sum(inst['ignore_flag'] for inst in instances) == 10
    assert sum(not info['instances'] for info in infos) == 2
    assert len(dataset.metainfo['classes']) == 80
    assert all(Path(info['img_path']).is_file() for info in infos)


def test_coco128_gt_as_predictions_is_perfect(coco128):
    dataset, ann_file = coco128
    predictions = coco_gt_as_predictions(ann_file)
    assert len(predictions) == 128
    # our contiguous labels are mmdet's: same labels as CocoDataset, crowd left out
    for i, pred in enumerate(predictions):
        info = dataset.get_data_info(i)
        assert pred['img_id'] == info['img_id']
        instances = [inst for inst in info['instances'] if not inst['ignore_flag']]
        labels = [inst['bbox_label'] for inst in instances]
        assert pred['pred_instances']['labels'].tolist() == labels
    assert sum(len(p['pred_instances']['labels']) for p in predictions) == 929

    results = evaluate_coco(ann_file, predictions, classes=dataset.metainfo['classes'])
    for name in ('bbox', 'segm'):
        stats = dict(zip(COCO_STATS_NAMES, results[f'coco/{name}_stats']))
        assert results[f'coco/{name}_mAP'] == pytest.approx(1.0, abs=5e-4)
        for key in ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR100', 'ARs', 'ARm',
                    'ARl'):
            assert stats[key] == pytest.approx(1.0, abs=5e-4), (name, key)
        # images hold up to 42 objects, so 1 or 10 detections cannot recall them all
        assert stats['AR1'] < stats['AR10'] < 1.0


# ------------------------------------------------------- cocoapi known answer


def test_cocoapi_fake_results_give_published_summary(shared_data):
    root = shared_data('cocoapi_ref')
    expected = parse_cocoapi_summary((root / 'val2014_fake_eval_res.txt').read_text())
    assert len(expected['bbox']) == len(expected['segm']) == 12
    ann_file = root / 'instances_val2014_100.json'
    predictions = coco_results_to_predictions(
        ann_file, root / 'instances_val2014_fakebbox100_results.json',
        root / 'instances_val2014_fakesegm100_results.json')
    assert len(predictions) == 100
    assert sum(len(p['pred_instances']['labels']) for p in predictions) == 734

    results = evaluate_coco(ann_file, predictions)
    for name in ('bbox', 'segm'):
        assert results[f'coco/{name}_stats'] == pytest.approx(expected[name], abs=5e-4)
    assert results['coco/bbox_mAP'] == pytest.approx(0.505, abs=5e-4)
    assert results['coco/segm_mAP'] == pytest.approx(0.320, abs=5e-4)


# ------------------------------------------------------------ ADE20K (mmseg)


@pytest.mark.filterwarnings('ignore:`reduce_zero_label` will be deprecated')
def test_ade_sample_gt_as_prediction_gives_miou_100(shared_data):
    from mmseg.datasets import ADE20KDataset
    from mmseg.datasets.transforms import LoadAnnotations
    dataset = ADE20KDataset(
        data_root=str(shared_data('ade_sample')),
        data_prefix=dict(img_path='images/validation',
                         seg_map_path='annotations/validation'),
        pipeline=[dict(type=LoadAnnotations, reduce_zero_label=True)])
    assert len(dataset) == 3
    gt_maps = [dataset[i]['gt_seg_map'] for i in range(len(dataset))]
    # reduce_zero_label: 0 ("other") -> 255, 1..150 -> 0..149
    assert all(set(np.unique(gt)) <= set(range(150)) | {255} for gt in gt_maps)
    assert all((gt == 255).any() for gt in gt_maps)
    # any valid label will do on ignored pixels
    pred_maps = [np.where(gt == 255, 0, gt) for gt in gt_maps]

    classes = dataset.metainfo['classes']
    results = evaluate_segmentation(gt_maps, pred_maps, classes)
    assert results['mIoU'] == pytest.approx(100.0)
    assert results['aAcc'] == pytest.approx(100.0)
    assert results['mAcc'] == pytest.approx(100.0)
    # classes in neither map have 0/0 = NaN IoU; mmseg's mIoU is the nanmean
    present = set(np.unique(np.concatenate([gt[gt != 255] for gt in gt_maps])))
    iou = results['per_class']['IoU']
    assert iou.shape == (150, )
    assert set(np.flatnonzero(~np.isnan(iou))) == present
    assert np.all(iou[~np.isnan(iou)] == 100.0)


# ------------------------------------------------------ known answers, tiny files


def write_tiny_coco(path):
    """Two images, categories in non-sorted id order (label 0 is id 5)."""
    square = [[10, 10, 30, 10, 30, 30, 10, 30]]
    coco = dict(
        images=[dict(id=1, width=64, height=48, file_name='a.jpg'),
                dict(id=2, width=64, height=48, file_name='b.jpg')],
        categories=[dict(id=5, name='cat'), dict(id=2, name='dog')],
        annotations=[
            dict(id=1, image_id=1, category_id=2, bbox=[10, 10, 20, 20], area=400,
                 segmentation=square, iscrowd=0),
            dict(id=2, image_id=2, category_id=5, bbox=[10, 10, 20, 20], area=400,
                 segmentation=square, iscrowd=0),
        ])
    path.write_text(json.dumps(coco))
    return path


def test_results_map_category_ids_to_mmdet_labels(tmp_path):
    ann_file = write_tiny_coco(tmp_path / 'gt.json')
    bbox_json = tmp_path / 'bbox.json'
    bbox_json.write_text(json.dumps([
        dict(image_id=1, category_id=2, bbox=[10, 10, 20, 20], score=0.9),
        dict(image_id=2, category_id=5, bbox=[10, 10, 10, 20], score=0.8),
    ]))
    predictions = coco_results_to_predictions(ann_file, bbox_json)
    assert [p['img_id'] for p in predictions] == [1, 2]
    assert [p['pred_instances']['labels'].tolist() for p in predictions] == [[1], [0]]
    assert predictions[1]['pred_instances']['bboxes'].tolist() == [[10, 10, 20, 30]]

    results = evaluate_coco(ann_file, predictions, metrics='bbox')
    # one exact box, one with IoU 0.5 (AP 1 at 0.5 only): mean over 2 classes
    assert results['coco/bbox_mAP_50'] == pytest.approx(1.0, abs=5e-4)
    assert results['coco/bbox_mAP'] == pytest.approx((1.0 + 0.1) / 2, abs=5e-4)
    assert 'coco/segm_mAP' not in results


def test_tiny_coco_gt_as_predictions_is_perfect(tmp_path):
    ann_file = write_tiny_coco(tmp_path / 'gt.json')
    results = evaluate_coco(ann_file, coco_gt_as_predictions(ann_file))
    assert results['coco/bbox_mAP'] == pytest.approx(1.0, abs=5e-4)
    assert results['coco/segm_mAP'] == pytest.approx(1.0, abs=5e-4)


def test_segmentation_known_iou():
    gt = np.array([[0, 0], [1, 255]])
    pred = np.array([[0, 1], [1, 1]])
    results = evaluate_segmentation([gt], [pred], classes=('a', 'b', 'c'))
    # class a: 1 / 2, class b: 1 / 2, class c absent (NaN, left out of the mean)
    assert results['mIoU'] == pytest.approx(50.0)
    assert np.isnan(results['per_class']['IoU'][2])


# ------------------------------------------------------------------ bad input


def test_missing_annotation_file_is_named(tmp_path):
    with pytest.raises(ValueError, match='nothere.json does not exist'):
        coco_gt_as_predictions(tmp_path / 'nothere.json')


def test_not_json_is_reported(tmp_path):
    path = tmp_path / 'garbage.json'
    path.write_text('this is not json')
    with pytest.raises(ValueError, match='garbage.json is not a COCO JSON file'):
        coco_gt_as_predictions(path)


def test_json_without_coco_fields_is_reported(tmp_path):
    path = tmp_path / 'list.json'
    path.write_text('[1, 2, 3]')
    with pytest.raises(ValueError, match='list.json is not a COCO JSON annotation file'):
        evaluate_coco(path, [dict(img_id=1, pred_instances=dict(labels=[0]))])


def test_results_with_unknown_category_are_named(tmp_path):
    ann_file = write_tiny_coco(tmp_path / 'gt.json')
    bbox_json = tmp_path / 'bbox.json'
    bbox_json.write_text(json.dumps(
        [dict(image_id=1, category_id=7, bbox=[0, 0, 5, 5], score=0.5)]))
    with pytest.raises(ValueError, match='category_id 7 is not among the categories'):
        coco_results_to_predictions(ann_file, bbox_json)


def test_results_with_unknown_image_are_named(tmp_path):
    ann_file = write_tiny_coco(tmp_path / 'gt.json')
    bbox_json = tmp_path / 'bbox.json'
    bbox_json.write_text(json.dumps(
        [dict(image_id=9, category_id=5, bbox=[0, 0, 5, 5], score=0.5)]))
    with pytest.raises(ValueError, match='image_id 9 is not an image'):
        coco_results_to_predictions(ann_file, bbox_json)


def test_results_file_of_wrong_kind_is_reported(tmp_path):
    ann_file = write_tiny_coco(tmp_path / 'gt.json')
    bbox_json = tmp_path / 'bbox.json'
    bbox_json.write_text(json.dumps(
        [dict(image_id=1, category_id=5, bbox=[0, 0, 5, 5], score=0.5)]))
    # a box file where the mask file is expected
    with pytest.raises(ValueError, match='bbox.json is not a COCO results JSON file'):
        coco_results_to_predictions(ann_file, bbox_json, segm_json=bbox_json)


def test_unknown_class_names_are_named(tmp_path):
    ann_file = write_tiny_coco(tmp_path / 'gt.json')
    with pytest.raises(ValueError, match=r"\['bird'\] are not categories"):
        coco_gt_as_predictions(ann_file, classes=('cat', 'bird'))


def test_evaluate_coco_rejects_bad_arguments(tmp_path):
    ann_file = write_tiny_coco(tmp_path / 'gt.json')
    predictions = coco_gt_as_predictions(ann_file)
    with pytest.raises(ValueError, match='metrics must be among'):
        evaluate_coco(ann_file, predictions, metrics=('keypoints', ))
    with pytest.raises(ValueError, match='proposal_nums must hold the 3 maxDets'):
        evaluate_coco(ann_file, predictions, proposal_nums=(100, ))
    predictions[0]['pred_instances']['labels'][0] = 2
    with pytest.raises(ValueError, match=r'img_id 1: labels must lie in \[0, 2\)'):
        evaluate_coco(ann_file, predictions)


def test_segmentation_rejects_bad_maps():
    gt = np.zeros((4, 4), np.uint8)
    with pytest.raises(ValueError, match='same shape'):
        evaluate_segmentation([gt], [np.zeros((4, 5), np.uint8)], classes=('a', 'b'))
    with pytest.raises(ValueError, match=r'predicted labels must lie in \[0, 2\)'):
        evaluate_segmentation([gt], [np.full((4, 4), 255, np.uint8)], classes=('a', 'b'))
    with pytest.raises(ValueError, match='as many predictions'):
        evaluate_segmentation([gt], [], classes=('a', 'b'))
