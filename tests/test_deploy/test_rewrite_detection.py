"""The detection export rewrite: same predictions as mmdet, standard ONNX ops only, and
an exported graph that follows the input size (ONNX Runtime parity at many shapes)."""
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope

import trtvit_dense  # noqa: F401
from trtvit_dense.deploy import ORTBackend, TorchBackend, load_deploy_config
from trtvit_dense.deploy.onnx.export import build_exportable, export_onnx
from trtvit_dense.deploy.rewrite import ExportableDetector, postprocess_detection
from trtvit_dense.deploy.rewrite.ops import (gather_rows, nms_selected, roi_align,
                                             topk_padded)
from trtvit_dense.deploy.onnx.lint import lint_onnx
from trtvit_dense.deploy.verify import make_inputs, verify_backend
from trtvit_dense.registry import MODELS

ROOT = Path(__file__).parents[2]
DEPLOY_CFG = ROOT / 'configs/deploy/detection_dynamic-64x64-448x448.py'
# Untrained heads score everything low: thresholds are lowered so that each case has
# detections to compare, and the R50 (80-class) cases get few proposals so that the
# rcnn candidates stay under pre_top_k (where the rewrite is exactly mmdet's).
CASES = {
    'mask_rcnn_trtvit_a': ('configs/toy/mask-rcnn_trtvit-a_fpn_toy.py', {}),
    'retinanet_trtvit_a': ('configs/toy/retinanet_trtvit-a_fpn_toy.py',
                           {'model.test_cfg.score_thr': 0.005}),
    'mask_rcnn_r50': ('configs/mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
                      {'model.test_cfg.rpn.max_per_img': 20,
                       'model.test_cfg.rcnn.score_thr': 0.005}),
    'retinanet_r50': ('configs/retinanet/retinanet_r50_fpn_1x_coco.py',
                      {'model.test_cfg.score_thr': 0.005}),
}


def build(case):
    path, options = CASES[case]
    cfg = Config.fromfile(str(ROOT / path))
    cfg.merge_from_dict(options)
    init_default_scope('mmdet')
    torch.manual_seed(0)
    return cfg, MODELS.build(cfg.model).eval()


def images(shared_data_dir, n=2):
    """Real photos when ../shared/data is there, else seeded noise images."""
    if shared_data_dir is not None:
        import cv2
        files = sorted((shared_data_dir / 'train2017').glob('*.jpg'))[:n]
        return [cv2.imread(str(f)) for f in files]
    rng = np.random.RandomState(0)
    return [rng.randint(0, 255, (240, 320, 3), np.uint8) for _ in range(n)]


@pytest.fixture(scope='module')
def photos():
    import os
    shared = Path(os.environ.get('TRTVIT_SHARED_DATA') or ROOT.parent / 'shared' / 'data')
    root = shared / 'coco128'
    return images(root if root.is_dir() else None)


def batch(cfg, photos, shape):
    pre = cfg.model.data_preprocessor
    return make_inputs(photos, shape, pre.mean, pre.std, pre.bgr_to_rgb)


@pytest.mark.parametrize('case', list(CASES))
@pytest.mark.parametrize('shape', [(1, 3, 224, 288), (2, 3, 160, 192)])
def test_rewrite_matches_mmdet_predict(case, shape, photos):
    cfg, model = build(case)
    x = batch(cfg, photos, shape)
    # the original image was 1.5x larger: predictions are rescaled to it
    metas = [dict(img_shape=shape[2:], ori_shape=(shape[2] * 3 // 2, shape[3] * 3 // 2),
                  scale_factor=(2 / 3, 2 / 3), batch_input_shape=shape[2:],
                  pad_shape=shape[2:]) for _ in range(shape[0])]
    with torch.no_grad():
        ref = model.predict(torch.from_numpy(x), [DetDataSample(metainfo=m) for m in metas],
                            rescale=True)
    exportable = ExportableDetector(model)
    outs = TorchBackend(exportable)(x)
    ours = postprocess_detection(outs, metas)
    total = 0
    for r, o in zip(ref, ours):
        r = r.pred_instances
        assert len(o) == len(r)
        total += len(r)
        torch.testing.assert_close(o.bboxes, r.bboxes, atol=1e-3, rtol=0)
        torch.testing.assert_close(o.scores, r.scores, atol=1e-6, rtol=0)
        assert torch.equal(o.labels, r.labels)
        if 'masks' in r:
            assert o.masks.shape == r.masks.shape
            assert (o.masks == r.masks).float().mean() >= 0.9999
    assert total > 0, 'the case must produce detections to compare'


@pytest.mark.parametrize('case', ['mask_rcnn_trtvit_a', 'retinanet_trtvit_a'])
def test_output_contract(case, photos):
    """Fixed K rows per image; padded rows are label -1 with a zero box and score."""
    cfg, model = build(case)
    cfg_k = cfg.model.test_cfg.get('rcnn', cfg.model.test_cfg).max_per_img
    # a high threshold leaves fewer than K detections, so padding shows (random
    # RetinaNet weights score many anchors above 0.9)
    thr = 0.97 if case.startswith('retinanet') else 0.3
    head = model.bbox_head if case.startswith('retinanet') else model.roi_head
    head.test_cfg.score_thr = thr
    exportable = ExportableDetector(model)
    outs = TorchBackend(exportable)(batch(cfg, photos, (2, 3, 97, 131)))
    assert outs['dets'].shape == (2, cfg_k, 5) and outs['dets'].dtype == np.float32
    assert outs['labels'].shape == (2, cfg_k) and outs['labels'].dtype == np.int32
    pad = outs['labels'] == -1
    assert pad.any()
    assert np.all(outs['dets'][pad] == 0)
    valid = outs['dets'][~pad]
    assert np.all(valid[:, 4] > thr)
    assert np.all(valid[:, [2, 3]] <= [131, 97]) and np.all(valid[:, :4] >= 0)
    if case.startswith('mask'):
        assert outs['masks'].shape == (2, cfg_k, 28, 28)


def test_unsupported_detector_is_refused():
    with pytest.raises(TypeError, match='cannot export detector Module.*RetinaNet'):
        ExportableDetector(torch.nn.Module())


# -- the ONNX building blocks ---------------------------------------------------------
class _Ops(torch.nn.Module):
    output_names = ('selected', 'pooled')

    def forward(self, boxes, scores, feat):
        sel = nms_selected(boxes, scores, 5, 0.5, 0.1)
        r = boxes.reshape(-1, 4)
        idx = torch.arange(boxes.shape[0])[:, None].expand(-1, boxes.shape[1]).reshape(-1)
        return sel, roi_align(feat, r, idx, 7, 0.25, 0)


def test_nms_and_roi_align_match_onnxruntime(tmp_path):
    import onnxruntime as ort
    rng = np.random.RandomState(0)
    xy = rng.uniform(0, 100, (2, 40, 2))
    wh = np.concatenate([rng.uniform(0.2, 3, (2, 10, 2)),  # sub-pixel RoIs: half_pixel
                         rng.uniform(5, 60, (2, 30, 2))], 1)
    boxes = torch.tensor(np.concatenate([xy, xy + wh], -1), dtype=torch.float32)
    scores = torch.tensor(rng.uniform(0, 1, (2, 3, 40)), dtype=torch.float32)
    feat = torch.tensor(rng.randn(2, 4, 32, 40), dtype=torch.float32)
    path = tmp_path / 'ops.onnx'
    torch.onnx.export(_Ops(), (boxes, scores, feat), str(path), dynamo=False, opset_version=17,
                      input_names=['boxes', 'scores', 'feat'], output_names=['sel', 'pooled'],
                      dynamic_axes={'boxes': {1: 'n'}, 'scores': {1: 'c', 2: 'n'}})
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {'NonMaxSuppression', 'RoiAlign'} <= ops
    sess = ort.InferenceSession(str(path))
    sel, pooled = sess.run(None, dict(boxes=boxes.numpy(), scores=scores.numpy(),
                                      feat=feat.numpy()))
    ref_sel, ref_pooled = _Ops()(boxes, scores, feat)
    assert sorted(map(tuple, sel.tolist())) == sorted(map(tuple, ref_sel.tolist()))
    assert len(sel) > 6
    np.testing.assert_allclose(pooled, ref_pooled.numpy(), atol=1e-5)


def test_topk_padded_and_gather_rows_with_fewer_candidates_than_k():
    scores = torch.tensor([[0.25, 0.75], [0.5, -1.0]])  # exact in float32
    values, index = topk_padded(scores, 4, -1.0)
    assert values.tolist() == [[0.75, 0.25, -1.0, -1.0], [0.5, -1.0, -1.0, -1.0]]
    rows = gather_rows(torch.tensor([[[1.0], [2.0]], [[3.0], [4.0]]]), index, 4)
    assert rows.shape == (2, 4, 1)
    assert rows[0, :2, 0].tolist() == [2.0, 1.0] and rows[0, 2:].abs().sum() == 0


# -- exported graph: TensorRT-compatible, exact at every profile shape ------------------
@pytest.mark.parametrize('case', [
    'mask_rcnn_trtvit_a', 'retinanet_trtvit_a',
    pytest.param('mask_rcnn_r50', marks=pytest.mark.slow),
    pytest.param('retinanet_r50', marks=pytest.mark.slow)])
def test_exported_graph_matches_pytorch_at_profile_shapes(case, photos, tmp_path):
    cfg, model = build(case)
    dcfg = load_deploy_config(DEPLOY_CFG)
    exportable = build_exportable(model, dcfg)
    path = tmp_path / 'end2end.onnx'
    info = export_onnx(exportable, dcfg, path)
    assert info['dynamic_axes']['input'] == {'0': 'batch', '2': 'height', '3': 'width'}
    model = onnx.load(str(path))
    assert all(n.domain in ('', 'ai.onnx') for n in model.graph.node)  # no custom ops
    ops = {n.op_type for n in model.graph.node}
    assert 'NonMaxSuppression' in ops and 'LayerNormalization' in ops or 'r50' in case
    assert ('RoiAlign' in ops) == case.startswith('mask')
    assert [i for i in lint_onnx(model) if i.severity == 'error'] == []
    shapes = dcfg.verify_shapes[:4] + [dcfg.verify_shapes[-1]]  # incl. odd and batch 2
    batches = [batch(cfg, photos, s) for s in shapes]
    rows = verify_backend('detection', TorchBackend(exportable), ORTBackend(path), batches)
    assert [r.failures for r in rows] == [[]] * len(rows)
    assert sum(r.metrics['ref_boxes'] for r in rows) > 0
