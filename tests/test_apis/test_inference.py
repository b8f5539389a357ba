"""tools/infer.py and trtvit_dense.apis.inference: image arguments, predictions painted
and as JSON for detection (boxes, masks), segmentation (label maps) and classification
(class, score, top 5) with seeded
random weights, PyTorch against ONNX Runtime, unreadable images and odd formats."""
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch

from trtvit_dense.apis.inference import (InputError, build_visualizer, collect_images,
                                         predictions_to_dict)

from conftest import save_checkpoint  # seeded random weights

from tools import infer as infer_tool

ROOT = Path(__file__).parents[2]

CONFIGS = {
    'mask_rcnn': 'configs/toy/mask-rcnn_trtvit-a_fpn_toy.py',
    'upernet': 'configs/toy/upernet_trtvit-a_toy.py',
    'classifier': 'configs/toy/classifier_trtvit-a_toy.py',
}
DET_CLASSES = ('circle', 'rectangle', 'triangle', 'star', 'ring')
SEG_CLASSES = ('sky', 'ground', 'circle', 'rectangle', 'triangle', 'star', 'ring')
COCO_IMAGES = ('000000000009.jpg', '000000000025.jpg')


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """``checkpoint(case)``: a seeded random-weight checkpoint, made once per module."""
    made = {}

    def get(case: str) -> str:
        if case not in made:
            path = tmp_path_factory.mktemp(case) / 'model.pth'
            made[case] = str(save_checkpoint(CONFIGS[case], path))
        return made[case]

    return get


def config(case: str) -> str:
    return str(ROOT / CONFIGS[case])


def run_main(args, expect_error=False):
    """``tools/infer.py`` in process; returns the SystemExit message, or None."""
    if not expect_error:
        infer_tool.main([str(a) for a in args])
        return None
    with pytest.raises(SystemExit) as e:
        infer_tool.main([str(a) for a in args])
    assert e.value.code not in (0, None)
    return str(e.value.code)


def load_predictions(out_dir: Path) -> dict:
    return json.loads((out_dir / 'predictions.json').read_text())


def write_picture(path: Path, height=120, width=160, seed=0) -> Path:
    """A small colour picture with a few filled shapes."""
    rng = np.random.default_rng(seed)
    img = np.full((height, width, 3), 200, np.uint8)
    img[:] = rng.integers(0, 256, 3)
    cv2.circle(img, (width // 3, height // 2), height // 4, (20, 40, 220), -1)
    cv2.rectangle(img, (width // 2, 10), (width - 10, height // 2), (30, 200, 30), -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img)
    return path


def check_painted(record: dict) -> np.ndarray:
    painted = cv2.imread(record['output'], cv2.IMREAD_UNCHANGED)
    assert painted is not None and painted.shape == (record['height'], record['width'], 3)
    return painted


def check_detection_record(record: dict, classes=DET_CLASSES, masks=True):
    h, w = record['height'], record['width']
    original = cv2.imread(record['image'], cv2.IMREAD_COLOR)
    assert original.shape[:2] == (h, w)
    check_painted(record)
    instances = record['instances']
    assert instances, 'a random-weight Mask R-CNN predicts boxes (score_thr 0.05)'
    scores = [i['score'] for i in instances]
    assert scores == sorted(scores, reverse=True)
    for inst in instances:
        assert 0 <= inst['label'] < len(classes) and inst['class'] == classes[inst['label']]
        assert 0.0 <= inst['score'] <= 1.0
        x1, y1, x2, y2 = inst['bbox']
        assert 0 <= x1 <= x2 <= w and 0 <= y1 <= y2 <= h
        assert ('mask' in inst) == masks
        if masks:
            rle = dict(inst['mask'], counts=inst['mask']['counts'].encode())
            assert isinstance(inst['mask']['counts'], str)
            assert mask_util.decode(rle).shape == (h, w)


# -- image arguments --------------------------------------------------------------------

def test_collect_images_files_folders_globs_duplicates(tmp_path):
    a, b = tmp_path / 'a', tmp_path / 'b'
    for path in (a / 'x.jpg', a / 'y.PNG', a / 'sub' / 'z.jpeg', b / 'x.jpg', b / 'w.webp'):
        write_picture(path)
    (a / 'notes.txt').write_text('not an image')
    missing = tmp_path / 'missing.jpg'
    paths, failures = collect_images([
        a / 'y.PNG',                   # a file
        a,                             # a folder: its images, sorted, not sub-folders
        f'{tmp_path}/**/*.jp*g',       # a recursive glob: sorted, a/x.jpg already in
        str(a / '.' / 'x.jpg'),        # the same file spelled differently
        missing, missing,              # reported once
        a / 'notes.txt',               # named explicitly: tried whatever its suffix
    ])
    assert paths == [str(a / 'y.PNG'), str(a / 'x.jpg'), str(a / 'sub' / 'z.jpeg'),
                     str(b / 'x.jpg'), str(a / 'notes.txt')]
    assert failures == [dict(image=str(missing), error='no such file or directory')]


def test_collect_images_empty_folder_or_glob_is_an_error(tmp_path):
    empty = tmp_path / 'empty'
    empty.mkdir()
    (empty / 'readme.txt').write_text('no pictures here')
    with pytest.raises(InputError, match=f"folder '{empty}' holds no images"):
        collect_images([empty])
    with pytest.raises(InputError, match=r"pattern '.*/\*\.png' matches no image files"):
        collect_images([f'{tmp_path}/*.png'])


def test_cli_bad_image_arguments_stop_at_once(tmp_path, capsys):
    (tmp_path / 'empty').mkdir()
    msg = run_main([config('mask_rcnn'), tmp_path / 'never-read.pth', tmp_path / 'empty'],
                   expect_error=True)
    assert msg.startswith('error: folder') and 'holds no images' in msg
    msg = run_main([config('mask_rcnn'), tmp_path / 'never-read.pth',
                    f'{tmp_path}/*.jpg'], expect_error=True)
    assert msg == f"error: pattern '{tmp_path}/*.jpg' matches no image files"


# -- model and backend errors -------------------------------------------------------------

@pytest.mark.parametrize('model, extra, match', [
    ('absent.pth', [], r"model file '.*absent.pth' does not exist"),
    ('model.onnx', ['--backend', 'pytorch'],
     r'--backend pytorch runs a checkpoint \(.pth\); .* is a deployed model'),
    ('model.pth', ['--backend', 'onnxruntime'], r'--backend onnxruntime runs .onnx files'),
    ('model.pth', [], r'checkpoint .*model.pth is not a readable PyTorch checkpoint'),
    ('model.onnx', [], r'model.onnx is not a readable ONNX file'),
])
def test_model_file_errors(model, extra, match, tmp_path):
    import re
    image = write_picture(tmp_path / 'img.png')
    if model != 'absent.pth':
        (tmp_path / model).write_bytes(b'not a model')
    msg = run_main([config('mask_rcnn'), tmp_path / model, image,
                    '--out-dir', tmp_path / 'out'] + extra, expect_error=True)
    assert msg.startswith('error: ') and re.search(match, msg), msg
    assert not (tmp_path / 'out' / 'predictions.json').exists()


def test_tensorrt_missing_is_one_clear_message(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'tensorrt', None)  # absent, also on GPU hosts
    engine = tmp_path / 'end2end.engine'
    engine.write_bytes(b'engine')
    image = write_picture(tmp_path / 'img.png')
    msg = run_main([config('mask_rcnn'), engine, image, '--backend', 'tensorrt',
                    '--out-dir', tmp_path / 'out'], expect_error=True)
    from trtvit_dense.deploy.backends.tensorrt import tensorrt_not_found
    assert msg == f'error: {tensorrt_not_found()}'


@pytest.mark.slow
def test_checkpoint_of_another_model_is_refused(tmp_path):
    other = save_checkpoint(CONFIGS['upernet'], tmp_path / 'upernet.pth')
    image = write_picture(tmp_path / 'img.png')
    msg = run_main([config('mask_rcnn'), other, image, '--out-dir', tmp_path / 'out'],
                   expect_error=True)
    assert f"checkpoint {other} does not match MaskRCNN with TRTViT('a'): " in msg


# -- predictions as JSON ------------------------------------------------------------------

def test_predictions_to_dict_detection_and_segmentation():
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData, PixelData
    from mmseg.structures import SegDataSample
    sample = DetDataSample(metainfo=dict(ori_shape=(40, 60)))
    inst = InstanceData()
    inst.bboxes = torch.tensor([[1.0, 2.0, 30.0, 20.0], [-0.5, 5.0, 60.2, 40.1]])
    inst.scores = torch.tensor([0.2, 0.9])
    inst.labels = torch.tensor([4, 0])
    masks = torch.zeros(2, 40, 60, dtype=torch.bool)
    masks[0, 2:20, 1:30] = True
    inst.masks = masks
    sample.pred_instances = inst
    out = predictions_to_dict(sample, DET_CLASSES)
    assert (out['height'], out['width']) == (40, 60)
    first, second = out['instances']  # best score first; boxes clipped to the image
    assert first == {'label': 0, 'class': 'circle', 'score': pytest.approx(0.9),
                     'bbox': [0.0, 5.0, 60.0, 40.0], 'mask': first['mask']}
    assert second['class'] == 'ring' and second['bbox'] == [1.0, 2.0, 30.0, 20.0]
    decoded = mask_util.decode(dict(second['mask'], counts=second['mask']['counts'].encode()))
    assert decoded.shape == (40, 60) and decoded.sum() == 18 * 29
    json.dumps(out)  # plain JSON types only

    seg = SegDataSample(metainfo=dict(ori_shape=(4, 5)))
    labels = torch.zeros(1, 4, 5, dtype=torch.long)
    labels[0, :2] = 6
    seg.pred_sem_seg = PixelData(data=labels)
    out = predictions_to_dict(seg, SEG_CLASSES)
    assert out == dict(height=4, width=5, classes_present=[
        {'label': 0, 'class': 'sky', 'fraction': 0.5},
        {'label': 6, 'class': 'ring', 'fraction': 0.5}])
    json.dumps(out)


def test_classifier_predictions_painted_and_as_json(checkpoint, toy_data, tmp_path):
    """A classifier: the predicted class, its score and the top 5 per image, painted on
    it by mmpretrain's visualiser."""
    images = toy_data / 'toy_imagenet' / 'val' / 'star'
    infer_tool.main([CONFIGS['classifier'], checkpoint('classifier'), str(images),
                     '--out-dir', str(tmp_path)])
    doc = json.loads((tmp_path / 'predictions.json').read_text())
    assert doc['task'] == 'classification' and len(doc['images']) == 1  # 1 of 8 is a star
    record = doc['images'][0]
    assert len(record['top5']) == 5 and record['top5'][0]['label'] == record['label']
    assert record['class'] == doc['classes'][record['label']]
    assert sum(t['score'] for t in record['top5']) == pytest.approx(1.0, abs=1e-5)
    scores = [t['score'] for t in record['top5']]
    assert scores == sorted(scores, reverse=True)
    painted = cv2.imread(record['output'])
    original = cv2.imread(record['image'])
    assert painted.shape == original.shape and not np.array_equal(painted, original)


def test_visualizers_have_unique_names_and_no_storage():
    meta = dict(classes=DET_CLASSES, palette=[(255, 0, 0)])
    first, second = build_visualizer('detection', meta), build_visualizer('detection', meta)
    assert first.instance_name != second.instance_name
    assert first._vis_backends == {} and len(first.dataset_meta['palette']) == 5


# -- real photographs ---------------------------------------------------------------------

@pytest.mark.slow
def test_mask_rcnn_on_coco_photos(shared_data, checkpoint, tmp_path, capsys):
    folder = shared_data('coco128') / 'train2017'
    out = tmp_path / 'out'
    run_main([config('mask_rcnn'), checkpoint('mask_rcnn'),
              *(folder / name for name in COCO_IMAGES), '--out-dir', out,
              '--score-thr', '0'])
    assert capsys.readouterr().out.strip().endswith(
        f'2 images predicted (pytorch): painted PNGs in {out}, predictions in '
        f'{out}/predictions.json')
    doc = load_predictions(out)
    assert doc['backend'] == 'pytorch' and doc['task'] == 'detection'
    assert doc['score_thr'] == 0.0 and doc['classes'] == list(DET_CLASSES)
    assert doc['failed'] == []
    assert [r['image'] for r in doc['images']] == [str(folder / n) for n in COCO_IMAGES]
    assert sorted(p.name for p in out.iterdir()) == [
        '000000000009.png', '000000000025.png', 'predictions.json']
    for record in doc['images']:
        check_detection_record(record)
        original = cv2.imread(record['image'], cv2.IMREAD_COLOR)
        assert np.abs(check_painted(record).astype(int) - original).mean() > 5  # drawn


@pytest.mark.slow
def test_upernet_on_ade20k_photos(shared_data, checkpoint, tmp_path):
    folder = shared_data('ade_sample') / 'images' / 'validation'
    out = tmp_path / 'out'
    run_main([config('upernet'), checkpoint('upernet'), folder, '--out-dir', out])
    doc = load_predictions(out)
    assert doc['task'] == 'segmentation' and doc['classes'] == list(SEG_CLASSES)
    assert [Path(r['image']).name for r in doc['images']] == [
        'ADE_val_00000001.jpg', 'ADE_val_00000002.jpg', 'ADE_val_00000003.jpg']
    for record in doc['images']:
        original = cv2.imread(record['image'], cv2.IMREAD_COLOR)
        assert original.shape[:2] == (record['height'], record['width'])
        painted = check_painted(record)
        assert np.abs(painted.astype(int) - original).mean() > 5  # the map is overlaid
        labels = cv2.imread(record['label_map'], cv2.IMREAD_UNCHANGED)
        assert record['label_map'] == str(out / (Path(record['image']).stem + '_labels.png'))
        assert labels.dtype == np.uint8 and labels.shape == original.shape[:2]
        assert labels.max() < len(SEG_CLASSES)
        present = record['classes_present']
        assert [c['label'] for c in present] == np.unique(labels).tolist()
        assert all(c['class'] == SEG_CLASSES[c['label']] for c in present)
        assert sum(c['fraction'] for c in present) == pytest.approx(1.0)
        for c in present:
            assert c['fraction'] == pytest.approx((labels == c['label']).mean())


@pytest.fixture(scope='module')
def mask_rcnn_deployed(deployed_toy):
    """The toy Mask R-CNN's seeded checkpoint and its graph from tools/deploy.py
    (conftest's ``deployed_toy``, shared with the deploy tests)."""
    folder = deployed_toy('mask_rcnn')
    return str(folder / 'model.pth'), str(folder / 'deploy' / 'end2end.onnx')


@pytest.mark.slow
def test_onnxruntime_agrees_with_pytorch(shared_data, mask_rcnn_deployed, tmp_path):
    folder = shared_data('coco128') / 'train2017'
    # A square picture resizes to the 224x224 network input with no padding. With
    # padding the exported graph clips RoIs to the padded input where mmdet clips them
    # to the resized image, so low-scoring random-weight boxes at the border differ.
    square = tmp_path / 'square.png'
    cv2.imwrite(str(square), cv2.imread(str(folder / COCO_IMAGES[0]))[:448, :448])
    docs = {}
    for backend, model in zip(('pytorch', 'onnxruntime'), mask_rcnn_deployed):
        out = tmp_path / backend
        run_main([config('mask_rcnn'), model, square, folder / COCO_IMAGES[1],
                  '--out-dir', out, '--score-thr', '0'])
        docs[backend] = doc = load_predictions(out)
        assert doc['backend'] == backend and doc['failed'] == []
        for record in doc['images']:
            check_detection_record(record)
    pt, ort = (docs[b]['images'][0]['instances'] for b in ('pytorch', 'onnxruntime'))
    assert len(pt) == len(ort)
    for a, b in zip(pt[:20], ort[:20]):
        assert a['label'] == b['label']
        assert b['score'] == pytest.approx(a['score'], abs=1e-4)
        assert np.allclose(a['bbox'], b['bbox'], atol=0.5)
        rle = [dict(m, counts=m['counts'].encode()) for m in (a['mask'], b['mask'])]
        assert mask_util.iou(rle[:1], rle[1:], [0])[0][0] > 0.95


# -- unreadable images and image formats ------------------------------------------------

def check_segmentation_record(record: dict, height: int, width: int):
    assert (record['height'], record['width']) == (height, width)
    check_painted(record)
    labels = cv2.imread(record['label_map'], cv2.IMREAD_UNCHANGED)
    assert labels.dtype == np.uint8 and labels.shape == (height, width)
    assert labels.max() < len(SEG_CLASSES)


@pytest.mark.slow
def test_unreadable_images_are_reported_and_the_rest_written(checkpoint, tmp_path, capsys):
    good = [write_picture(tmp_path / 'in' / 'good.jpg', seed=1),
            write_picture(tmp_path / 'in' / 'other' / 'good.png', seed=2)]  # same stem
    empty = tmp_path / 'in' / 'empty.jpg'
    empty.write_bytes(b'')
    text = tmp_path / 'in' / 'text.jpg'
    text.write_text('this is not a JPEG')
    missing = tmp_path / 'in' / 'missing.jpg'
    out = tmp_path / 'out'
    msg = run_main([config('upernet'), checkpoint('upernet'), good[0], empty, missing,
                    text, good[1], '--out-dir', out], expect_error=True)
    assert msg == ('error: 3 of 5 images could not be read or predicted (listed under '
                   f'"failed" in predictions.json): {missing}, {empty}, {text}')
    err = capsys.readouterr().err
    assert f'cannot read {missing}: no such file or directory' in err
    assert f'cannot read {empty}: empty file (0 bytes)' in err
    assert f'cannot read {text}: not a readable image' in err
    doc = load_predictions(out)
    assert [r['image'] for r in doc['images']] == [str(p) for p in good]
    assert [f['image'] for f in doc['failed']] == [str(missing), str(empty), str(text)]
    assert sorted(p.name for p in out.iterdir()) == [
        'good.png', 'good_1.png', 'good_1_labels.png', 'good_labels.png',
        'predictions.json']
    for record in doc['images']:
        check_segmentation_record(record, 120, 160)


@pytest.mark.slow
def test_grayscale_16bit_and_rgba_images(checkpoint, tmp_path):
    colour = cv2.imread(str(write_picture(tmp_path / 'src.png', 90, 130)))
    gray = cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY)
    images = {
        'gray.png': gray,
        'gray16.png': gray.astype(np.uint16) * 257,
        'colour16.png': colour.astype(np.uint16) * 257,
        'rgba.png': cv2.cvtColor(colour, cv2.COLOR_BGR2BGRA),
    }
    for name, img in images.items():
        assert cv2.imwrite(str(tmp_path / name), img)
        read = cv2.imread(str(tmp_path / name), cv2.IMREAD_UNCHANGED)
        assert read.dtype == img.dtype and read.shape == img.shape
    out = tmp_path / 'out'
    run_main([config('upernet'), checkpoint('upernet'), *(tmp_path / n for n in images),
              '--out-dir', out])
    doc = load_predictions(out)
    assert doc['failed'] == []
    assert [Path(r['output']).name for r in doc['images']] == list(images)
    for record in doc['images']:
        check_segmentation_record(record, 90, 130)
