"""Bad input is reported before any training step, naming the file or key and the fix."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trtvit_dense.apis import ConfigError, check_config, load_config

ROOT = Path(__file__).parents[2]
DET = 'configs/toy/mask-rcnn_trtvit-a_fpn_toy.py'
SEG = 'configs/toy/upernet_trtvit-a_toy.py'
CLS = 'configs/toy/classifier_trtvit-a_toy.py'


def det_options(root):
    coco = f'{root}/toy_coco/'
    return {
        'train_dataloader.dataset.data_root': coco,
        'val_dataloader.dataset.data_root': coco,
        'test_dataloader.dataset.data_root': coco,
        'val_evaluator.ann_file': coco + 'annotations/instances_val.json',
        'test_evaluator.ann_file': coco + 'annotations/instances_val.json',
    }


def seg_options(root):
    ade = f'{root}/toy_ade/ADEChallengeData2016'
    return {f'{split}_dataloader.dataset.data_root': ade
            for split in ('train', 'val', 'test')}


def cls_options(root):
    return {f'{split}_dataloader.dataset.data_root': f'{root}/toy_imagenet'
            for split in ('train', 'val', 'test')}


@pytest.fixture
def toy_copy(toy_data, tmp_path):
    """A private copy of the toy data that a test may break."""
    shutil.copytree(toy_data, tmp_path / 'data')
    return tmp_path / 'data'


@pytest.mark.parametrize('config,options', [(DET, det_options), (SEG, seg_options),
                                            (CLS, cls_options)])
def test_good_toy_data_passes(toy_data, config, options):
    check_config(load_config(str(ROOT / config), options(toy_data)))


def test_missing_dataset_folder(tmp_path):
    cfg = load_config(str(ROOT / SEG), seg_options(tmp_path / 'nowhere'))
    with pytest.raises(ConfigError, match=r"folder '.*nowhere/toy_ade/ADEChallengeData2016/"
                       r"images/training' \(train_dataloader.dataset.data_prefix.img_path\) "
                       r'does not exist; set train_dataloader.dataset.data_root'):
        check_config(cfg)


def test_missing_annotation_file(toy_copy):
    (toy_copy / 'toy_coco/annotations/instances_train.json').unlink()
    cfg = load_config(str(ROOT / DET), det_options(toy_copy))
    with pytest.raises(ConfigError, match=r"annotation file '.*instances_train.json' "
                       r'\(train_dataloader.dataset.ann_file\) does not exist'):
        check_config(cfg)


@pytest.mark.parametrize('content,match', [
    ('not json at all', r'is not JSON'),
    ('{"images": []}', r"is not a COCO instances file: it lacks \['annotations', "
                       r"'categories'\]; give a JSON object .* \[coco-structure\]"),
    ('[1, 2]', r'is not a COCO instances file'),
])
def test_annotation_file_that_is_not_coco(toy_copy, content, match):
    (toy_copy / 'toy_coco/annotations/instances_train.json').write_text(content)
    cfg = load_config(str(ROOT / DET), det_options(toy_copy))
    with pytest.raises(ConfigError, match=r"instances_train.json' .*" + match):
        check_config(cfg)


def test_undecodable_image(toy_copy):
    ann = json.loads((toy_copy / 'toy_coco/annotations/instances_train.json').read_text())
    broken = toy_copy / 'toy_coco/train' / ann['images'][3]['file_name']
    broken.write_bytes(broken.read_bytes()[:200])
    cfg = load_config(str(ROOT / DET), det_options(toy_copy))
    with pytest.raises(ConfigError, match=r"instances_train\.json' \(train_dataloader\.dataset\)"
                       rf": 1 images that are empty, truncated or cannot be decoded \(e\.g\. "
                       rf"{broken.name}\): as they are, this crashes .*; fix the file, or let "
                       r'tools/compare\.py --check-only write a repaired copy .*'
                       r'\[image-unreadable\]$'):
        check_config(cfg)


def test_unknown_category_id(toy_copy):
    path = toy_copy / 'toy_coco/annotations/instances_train.json'
    ann = json.loads(path.read_text())
    ann['annotations'][0]['category_id'] = 99
    path.write_text(json.dumps(ann))
    cfg = load_config(str(ROOT / DET), det_options(toy_copy))
    with pytest.raises(ConfigError, match=r'has category_id 99, which is not among its '
                       r'categories \[1, 2, 4, 5, 7\]'):
        check_config(cfg)


def test_metainfo_class_not_in_annotations(toy_data):
    options = det_options(toy_data)
    options['train_dataloader.dataset.metainfo.classes'] = ['circle', 'hexagon']
    cfg = load_config(str(ROOT / DET), options)
    with pytest.raises(ConfigError, match=r"metainfo.classes \['hexagon'\] are not "
                       r'categories of'):
        check_config(cfg)


def test_annotation_category_not_in_metainfo(toy_data):
    options = det_options(toy_data)
    options['train_dataloader.dataset.metainfo.classes'] = ['circle', 'rectangle']
    cfg = load_config(str(ROOT / DET), options)
    with pytest.raises(ConfigError, match=r"has annotations of categories \['ring', 'star', "
                       r"'triangle'\] that are not in train_dataloader.dataset.metainfo"):
        check_config(cfg)


def test_missing_label_map(toy_copy):
    labels = toy_copy / 'toy_ade/ADEChallengeData2016/annotations/validation'
    victim = sorted(labels.iterdir())[1]
    victim.unlink()
    cfg = load_config(str(ROOT / SEG), seg_options(toy_copy))
    with pytest.raises(ConfigError, match=rf"label map of image .* '{victim}' does not exist"):
        check_config(cfg)


@pytest.mark.parametrize('case, match', [
    ('rgb', r"label map '.*' \(val_dataloader\.dataset\) has 3 channels; write class indices "
            r'as an 8-bit .* \[label-not-single-channel\]'),
    ('size', r"label map '.*' \(val_dataloader\.dataset\) is \d+x\d+ but its image '.*' is "
             r'\d+x\d+; give them the same size \[label-size-mismatch\]'),
    # 7 classes, reduce_zero_label (ADE20K's): values 1..7, 0 ignored
    ('values', r"label map '.*' \(val_dataloader\.dataset\) has values \[9\] outside the 7 "
               r'classes of val_dataloader\.dataset\.metainfo \(1\.\.7, 0 = ignored\)'),
])
def test_label_maps_that_mmseg_would_misread(toy_copy, case, match):
    import cv2
    labels = toy_copy / 'toy_ade/ADEChallengeData2016/annotations/validation'
    victim = sorted(labels.iterdir())[2]
    lab = cv2.imread(str(victim), cv2.IMREAD_UNCHANGED)
    if case == 'values':
        lab[:2, :2] = 9
    cv2.imwrite(str(victim), {'rgb': lambda: np.stack([lab] * 3, -1),
                              'size': lambda: lab[:, :-5], 'values': lambda: lab}[case]())
    cfg = load_config(str(ROOT / SEG), seg_options(toy_copy))
    with pytest.raises(ConfigError, match=match):
        check_config(cfg)


def _two_point_polygon_first(path: Path) -> None:
    data = json.loads(path.read_text())
    ann = data['annotations'][0]
    ann['segmentation'] = [[3.0, 3.0, 9.0, 9.0]] + ann['segmentation']
    path.write_text(json.dumps(data))


def test_what_mmdet_training_skips_is_a_warning_in_training_and_refused_where_scored(
        toy_copy, caplog):
    """A 2-point polygon: mmdet's training drops it (a warning for the training set);
    pycocotools' evaluation crashes on it (refused in the validation set)."""
    _two_point_polygon_first(toy_copy / 'toy_coco/annotations/instances_train.json')
    cfg = load_config(str(ROOT / DET), det_options(toy_copy))
    with caplog.at_level('WARNING', logger='trtvit_dense.datasets.preflight'):
        check_config(cfg, ('train', ))
    assert re.search(r"instances_train\.json' \(train_dataloader\.dataset\): 1 polygons with "
                     r'fewer than 3 points \(e\.g\. \d+\): this is skipped by mmdet/mmseg '
                     r'without a word \[polygon-too-few-points\]', caplog.text)
    _two_point_polygon_first(toy_copy / 'toy_coco/annotations/instances_val.json')
    with pytest.raises(ConfigError, match=r"instances_val\.json' \(val_dataloader\.dataset\): "
                       r'1 polygons with fewer than 3 points .*: as they are, this crashes '
                       r'.*\[polygon-too-few-points\]$'):
        check_config(cfg, ('val', ))


def test_train_tool_reports_bad_input_and_writes_nothing(tmp_path):
    work_dir = tmp_path / 'work'
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', DET, '--work-dir', str(work_dir),
         '--cfg-options', f'train_dataloader.dataset.data_root={tmp_path}/none/'],
        cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith(
        f"error: annotation file '{tmp_path}/none/annotations/instances_train.json'")
    assert not work_dir.exists()


# -- classification (mmpretrain's ImageNet layout) ------------------------------------------

@pytest.mark.parametrize('line, match', [
    ('circle/train_00000001.jpg', r'line 11 of .*meta/train\.txt.* is not "<image path> '
                                  r'<label>": \'circle/train_00000001\.jpg\''),
    ('circle/train_00000001.jpg 5', r'line 11 of .*meta/train\.txt.* has label 5, outside the '
                                    r'5 classes of train_dataloader\.dataset \(0\.\.4\)'),
    ('circle/missing.jpg 0', r"image of line 11 of .*meta/train\.txt.* '.*train/circle/"
                             r"missing\.jpg' does not exist"),
])
def test_bad_imagenet_annotation_line(toy_copy, line, match):
    meta = toy_copy / 'toy_imagenet/meta/train.txt'
    meta.write_text(meta.read_text() + line + '\n')
    cfg = load_config(str(ROOT / CLS), cls_options(toy_copy))
    with pytest.raises(ConfigError, match=match):
        check_config(cfg)


def test_missing_imagenet_folder(tmp_path):
    cfg = load_config(str(ROOT / CLS), cls_options(tmp_path / 'nowhere'))
    with pytest.raises(ConfigError, match=r"image folder '.*nowhere/toy_imagenet/train' "
                       r'\(train_dataloader\.dataset\.data_root / data_prefix / split\) does '
                       r'not exist; point data_root at your dataset \(ImageNet layout'):
        check_config(cfg)


def test_class_folders_without_annotation_lists(toy_copy):
    """Without meta/<split>.txt mmpretrain reads one folder per class: their number must
    be the number of classes."""
    shutil.rmtree(toy_copy / 'toy_imagenet/meta')
    cfg = load_config(str(ROOT / CLS), cls_options(toy_copy))
    check_config(cfg)  # 5 folders, 5 classes
    shutil.rmtree(toy_copy / 'toy_imagenet/train/ring')
    with pytest.raises(ConfigError, match=r'train_dataloader\.dataset names 5 classes but '
                       r"'.*toy_imagenet/train' has 4 class folders"):
        check_config(cfg)
