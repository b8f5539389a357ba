"""Verification decides on the graph, not on fp32 noise: score ties between near-equal
candidates are explained, and genuinely wrong outputs (perturbed box deltas, swapped
labels, a wrong resize) still fail."""
import re

import numpy as np
import pytest
from conftest import FixedBackend as Fixed

from trtvit_dense.deploy.verify import Tolerances, format_table, verify_backend

K = 100  # max_per_img: rows per image


def detections(boxes, scores, labels, k=K):
    """[1, K, 5] dets and [1, K] labels, padded with label -1 as the graphs are."""
    n = len(boxes)
    dets = np.zeros((1, k, 5), np.float32)
    lab = -np.ones((1, k), np.int32)
    dets[0, :n, :4], dets[0, :n, 4], lab[0, :n] = boxes, scores, labels
    return dict(dets=dets, labels=lab)


def scene(n=60, seed=0):
    """``n`` well separated boxes with distinct low scores (a random-init detector's
    low-score tail)."""
    rng = np.random.default_rng(seed)
    xy = np.stack(np.meshgrid(np.arange(10) * 60.0, np.arange(10) * 60.0), -1).reshape(-1, 2)
    boxes = np.concatenate([xy, xy + 40.0], 1)[:n].astype(np.float32)
    scores = np.sort(rng.uniform(0.0100, 0.0110, n))[::-1].astype(np.float32)
    return boxes, scores, rng.integers(0, 5, n).astype(np.int32)


def run(ref, out, tol=Tolerances()):
    row, = verify_backend('detection', Fixed(ref), Fixed(out), [np.zeros((1, 3, 8, 8))], tol)
    return row


def nms_rival(box, shift=12.0):
    """A box overlapping ``box`` at IoU ~0.5-0.8: the other candidate of an NMS pair."""
    return box + np.array([shift, 0, shift, 0], np.float32)


def test_nms_ties_are_explained_and_shown():
    boxes, scores, labels = scene()
    out_boxes, out_scores = boxes.copy(), scores.copy()
    for j in (5, 20, 40):  # the backend kept the near-equal neighbour instead
        out_boxes[j] = nms_rival(boxes[j])
        out_scores[j] = scores[j] + 2e-7
    row = run(detections(boxes, scores, labels), detections(out_boxes, out_scores, labels))
    assert row.passed, row.failures
    assert (row.metrics['matched'], row.metrics['ties'], row.metrics['ties_credited']) == (
        57, 3, 3)
    assert '| 1x3x8x8 | 60 | 57 | 3 | 100.00% |' in format_table('detection', [row], 'ort')


def test_a_tie_at_the_max_per_image_cut_off_is_explained():
    boxes, scores, labels = scene(n=K)
    out_boxes = boxes.copy()
    out_boxes[-1] = boxes[-1] + 300  # another box at the cut-off, same score (+ noise)
    out_scores = scores.copy()
    out_scores[-1] = scores[-1] + 1e-7
    row = run(detections(boxes, scores, labels), detections(out_boxes, out_scores, labels))
    assert row.passed and row.metrics['ties'] == 1


@pytest.mark.parametrize('what', ['score gap', 'other label', 'no overlap'])
def test_near_misses_are_not_ties(what):
    boxes, scores, labels = scene()
    out_boxes, out_scores, out_labels = boxes.copy(), scores.copy(), labels.copy()
    out_boxes[:3] = [nms_rival(b) for b in boxes[:3]]
    if what == 'score gap':
        out_scores[:3] += 1e-3
    elif what == 'other label':
        out_labels[:3] = (labels[:3] + 1) % 5
    else:
        out_boxes[:3] = boxes[:3] + 45  # IoU 0 with the reference box
    row = run(detections(boxes, scores, labels),
              detections(out_boxes, out_scores, out_labels))
    assert not row.passed and row.metrics['ties'] == 0
    assert row.failures[0] == '57 of 60 boxes matched (< 99% at IoU > 0.99)'


@pytest.mark.parametrize('broken', ['perturbed deltas', 'swapped labels', 'wrong resize'])
def test_a_wrong_graph_still_fails(broken):
    boxes, scores, labels = scene()
    out_boxes, out_labels = boxes.copy(), labels.copy()
    if broken == 'perturbed deltas':  # every box moved a little: same scores, IoU ~0.8
        out_boxes = boxes + np.array([4, 3, 4, 3], np.float32)
    elif broken == 'swapped labels':
        out_labels = (labels + 1) % 5
    else:  # boxes of an input resized by 0.98 and not scaled back: up to 11 px off
        out_boxes = boxes * 0.98
    row = run(detections(boxes, scores, labels), detections(out_boxes, scores, out_labels))
    assert not row.passed and row.metrics['ties_credited'] == 0
    if broken != 'swapped labels':  # every box looks like a tie: too many to be noise
        assert re.fullmatch(r'\d+ unmatched boxes look like score ties, more than the 10% '
                            'that fp32 noise explains', row.failures[1]), row.failures


def test_segmentation_wrong_resize_fails():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.repeat(rng.integers(0, 7, (1, 1, 16, 16)), 4, 2), 4, 3)
    index = (np.arange(64) * 0.9).astype(int)  # a 10% wrong scale, nearest sampling
    resized = labels[:, :, index][:, :, :, index]
    row, = verify_backend('segmentation', Fixed(dict(seg_labels=labels.astype(np.int32))),
                          Fixed(dict(seg_labels=resized.astype(np.int32))),
                          [np.zeros((1, 3, 64, 64))])
    assert not row.passed and row.metrics['pixel_agree'] < 0.999


@pytest.mark.slow
@pytest.mark.parametrize('config, score_key', [
    ('configs/retinanet/retinanet_r50_fpn_1x_coco.py', 'model.test_cfg.score_thr'),
    ('configs/mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py', 'model.test_cfg.rcnn.score_thr'),
])
def test_random_init_detectors_pass_at_odd_shapes_and_batch_3(config, score_key, toy_data,
                                                              tmp_path, capsys):
    """The held-out case: seeded random-init R50 detectors with a low score threshold
    (their hundreds of boxes sit within 1e-4 of each other, where fp32 noise flips NMS
    and top-k decisions) deployed with the shipped profile at batch up to 4, verified at
    3x333x517 and 1x321x1343: a correct graph passes, ties are shown."""
    from conftest import ROOT, save_checkpoint

    from tools import deploy as deploy_tool
    ckpt = save_checkpoint(config, tmp_path / 'model.pth')
    work = tmp_path / 'deploy'
    deploy_tool.main([
        str(ROOT / config), str(ckpt), '--work-dir', str(work),
        '--deploy-cfg', str(ROOT / 'configs/deploy/detection_dynamic-320x320-1344x1344.py'),
        '--images', str(toy_data / 'toy_coco' / 'val'),
        '--cfg-options', f'{score_key}=0.005',
        '--deploy-options', 'profile.max_shape=[4,3,1344,1344]',
        'verify.shapes=[[3,3,333,517],[1,3,321,1343]]'])
    out = capsys.readouterr().out
    assert 'verification passed at all shapes' in out, out
    assert '| shape | boxes | matched | ties | match | mask err |' in out
    assert '| 3x3x333x517 |' in out and '| 1x3x321x1343 |' in out
    print(out[out.index('| shape'):])  # the table, with the ties it explained
    import json
    manifest = json.loads((work / 'manifest.json').read_text())
    assert manifest['verify_tolerances']['score_tie'] == 1e-5
    assert manifest['verify_tolerances']['tie_share'] == 0.1
