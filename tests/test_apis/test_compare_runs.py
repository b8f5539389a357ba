"""Whole runs of the compare command: on real data that is not ours (COCO128,
coco128_semseg), each model trained for one step, deployed, verified, evaluated and
timed once; and training through torchrun (--gpus)."""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from trtvit_dense.apis import load_config
from trtvit_dense.apis.compare import rescaled
from trtvit_dense.deploy.config import load_deploy_config

from test_compare import run_compare_tool
from conftest import coco_semseg_as_user_layout

pytestmark = pytest.mark.slow


def test_coco128_through_the_whole_command(shared_data, tmp_path, capsys):
    """Over a minute: three RetinaNets (TRT-ViT-A, Next-ViT-S, R50) each trained one step,
    exported, verified at six shapes, evaluated and timed on two backends; the parts are
    what the command is, and each is already at its smallest (2 images, 1 timed
    iteration)."""
    root = shared_data('coco128')
    work = tmp_path / 'work'
    run_compare_tool('--ann-file', root / 'annotations/instances_train2017.json',
                     '--images', root / 'train2017', '--models', 'retinanet', '--epochs', 1,
                     '--backbones', 'trtvit-a', 'nextvit-s', 'r50',
                     '--train-subset', 2, '--image-scale', 192, 160, '--num-images', 2,
                     '--iters', 1, '--warmup-s', 0,
                     '--jobs', 1, '--no-progress', '--work-dir', work,
                     '--cfg-options', 'model.test_cfg.score_thr=0.0')
    out = capsys.readouterr().out
    doc = json.loads((work / 'report.json').read_text())
    assert [(r['name'], r['backend']) for r in doc['rows']] == [
        ('retinanet_trtvit-a', 'pytorch'), ('retinanet_trtvit-a', 'onnxruntime'),
        ('retinanet_nextvit-s', 'pytorch'), ('retinanet_nextvit-s', 'onnxruntime'),
        ('retinanet_r50', 'pytorch'), ('retinanet_r50', 'onnxruntime')]
    # the TRT-ViT vs R50 table has a Next-ViT-S row against the same R50 row
    assert re.search(r'\| retinanet \| onnxruntime \| fp32 \| Next-ViT-S \| \d+ \|', out), out
    assert 'category ids that are not contiguous (1..90' in out
    assert '## TRT-ViT vs ResNet-50' in out
    cfg = load_config(str(work / 'configs/retinanet_trtvit-a.py'))
    assert len(cfg.train_dataloader.dataset.metainfo.classes) == 71
    assert cfg.model.bbox_head.num_classes == 71
    assert cfg.val_evaluator.ann_file == str(work / 'data/detection/instances_val.json')
    dcfg = load_deploy_config(str(work / 'configs/deploy_detection.py'))
    assert dcfg.max_shape[2:] == (192, 192)  # a portrait and a landscape image at (192, 160)
    sizes = [(i['height'], i['width']) for i in json.loads(
        (root / 'annotations/instances_train2017.json').read_text())['images']]
    inputs = np.ceil(rescaled(np.array(sizes), (192, 160)) / 32) * 32  # mmdet pads to 32
    assert (inputs.min(0) >= dcfg.min_shape[2:]).all() and (inputs.max(0) <= 192).all()


def test_coco128_semseg_through_the_whole_command(shared_data, tmp_path, capsys):
    """The longest test: two UPerNets with 133 classes (TRT-ViT-A, and the ResNetV1c R50
    whose UPerNet head is the heaviest model here) trained one step, exported,
    verified at six shapes, evaluated and timed on two backends, after checking the
    100 label maps of a real export; nothing smaller exercises a user's segmentation
    data through the whole command."""
    coco_semseg_as_user_layout(shared_data('coco128_semseg'), tmp_path / 'seg')
    work = tmp_path / 'work'
    run_compare_tool('--task', 'segmentation', '--data-root', tmp_path / 'seg', '--epochs', 1,
                     '--train-subset', 4, '--image-scale', 256, 96, '--num-images', 2,
                     '--iters', 1, '--warmup-s', 0,
                     '--jobs', 1, '--no-progress', '--work-dir', work)
    doc = json.loads((work / 'report.json').read_text())
    assert [(r['name'], r['backend']) for r in doc['rows']] == [
        ('upernet_trtvit-a', 'pytorch'), ('upernet_trtvit-a', 'onnxruntime'),
        ('upernet_r50', 'pytorch'), ('upernet_r50', 'onnxruntime')]
    assert all('mIoU' in r['accuracy'] for r in doc['rows'])
    cfg = load_config(str(work / 'configs/upernet_r50.py'))
    assert cfg.model.backbone.type == 'ResNetV1c' and cfg.model.decode_head.num_classes == 133
    assert not cfg.train_dataloader.dataset.reduce_zero_label


def test_torchrun_training_with_gpus(toy_data, tmp_path):
    """--gpus N trains each model with torchrun (N processes; gloo without CUDA)."""
    coco = toy_data / 'toy_coco'
    work = tmp_path / 'work'
    run_compare_tool('--ann-file', coco / 'annotations/instances_train.json', '--images',
                     coco / 'train', '--val-ann-file', coco / 'annotations/instances_val.json',
                     '--val-images', coco / 'val', '--models', 'retinanet', '--backbones',
                     'trtvit-a', '--recipe', 'toy', '--epochs', 1, '--train-subset', 4,
                     '--num-images', 2, '--iters', 1, '--warmup-s', 0, '--gpus', 2,
                     '--no-progress', '--work-dir', work,
                     '--cfg-options', 'model.test_cfg.score_thr=0.0')
    record = json.loads((work / 'train/retinanet_trtvit-a/training.json').read_text())
    assert Path(record['checkpoint']).is_file()
    log = next((work / 'train/retinanet_trtvit-a').glob('*/*.log')).read_text()
    assert 'Distributed training: True' in log
    assert len(json.loads((work / 'report.json').read_text())['rows']) == 2
