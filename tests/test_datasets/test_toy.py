"""Tests of the toy COCO / ADE20K / ImageNet generators, their loading in
mmdet/mmseg/mmpretrain, and the CLI."""
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from trtvit_dense.datasets import (TOY_ADE_CLASSES, TOY_ADE_PALETTE, TOY_COCO_CATEGORY_IDS,
                                   TOY_COCO_CLASSES, TOY_COCO_PALETTE, TOY_DATASETS,
                                   TOY_IMAGENET_CLASSES, ensure_toy_dataset,
                                   existing_toy_summary, make_toy_ade, make_toy_coco,
                                   make_toy_imagenet)

ROOT = Path(__file__).resolve().parents[2]
GENERATORS = TOY_DATASETS
ADE_SPLITS = {'train': 'training', 'val': 'validation'}


def read_tree(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob('*') if p.is_file()}


@pytest.fixture(scope='module')
def toy_coco(tmp_path_factory):
    root = tmp_path_factory.mktemp('data') / 'toy_coco'
    return root, make_toy_coco(root, num_train=12, num_val=6, seed=0)


@pytest.fixture(scope='module')
def toy_ade(tmp_path_factory):
    root = tmp_path_factory.mktemp('data') / 'toy_ade'
    return root, make_toy_ade(root, num_train=4, num_val=6, seed=0)


@pytest.mark.parametrize('kind', ['coco', 'ade', 'imagenet'])
def test_seed_determines_bytes(tmp_path, kind):
    trees = []
    for name, seed in (('a', 0), ('b', 0), ('c', 1)):
        GENERATORS[kind](tmp_path / name, num_train=3, num_val=2, seed=seed)
        trees.append(read_tree(tmp_path / name))
    assert trees[0] == trees[1]
    assert trees[0].keys() == trees[2].keys()
    images = [path for path in trees[0] if path.endswith('.jpg')]
    assert len(images) == 5
    assert all(trees[0][path] != trees[2][path] for path in images)
    # No temporary directory is left beside the datasets.
    assert sorted(p.name for p in tmp_path.iterdir()) == ['a', 'b', 'c']


def test_smaller_dataset_is_prefix(tmp_path, toy_coco):
    root, _ = toy_coco
    make_toy_coco(tmp_path / 'small', num_train=3, num_val=1, seed=0)
    for name in ('000000000001.jpg', '000000000002.jpg', '000000000003.jpg'):
        assert (tmp_path / 'small' / 'train' / name).read_bytes() == \
            (root / 'train' / name).read_bytes()


@pytest.mark.parametrize('split', ['train', 'val'])
def test_coco_annotations_match_their_masks(toy_coco, split):
    root, summary = toy_coco
    coco = COCO(str(root / 'annotations' / f'instances_{split}.json'))
    assert [cat['id'] for cat in coco.dataset['categories']] == list(TOY_COCO_CATEGORY_IDS)
    assert [cat['name'] for cat in coco.dataset['categories']] == list(TOY_COCO_CLASSES)
    sizes = set()
    for img in coco.dataset['images']:
        image = cv2.imread(str(root / split / img['file_name']))
        assert image.shape == (img['height'], img['width'], 3)
        assert 128 <= min(image.shape[:2]) and max(image.shape[:2]) <= 192
        sizes.add(image.shape[:2])
    assert any(h > w for h, w in sizes) and any(w > h for h, w in sizes)
    anns = coco.dataset['annotations']
    for ann in anns:
        assert ann['category_id'] in TOY_COCO_CATEGORY_IDS and ann['iscrowd'] == 0
        if isinstance(ann['segmentation'], list):
            assert all(len(p) >= 6 and len(p) % 2 == 0 for p in ann['segmentation'])
        mask = coco.annToMask(ann)
        ys, xs = np.nonzero(mask)
        x, y, w, h = ann['bbox']
        assert np.allclose([x, y, x + w, y + h],
                           [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], atol=1)
        assert ann['area'] == pytest.approx(mask.sum(), rel=0.01)
    num_rle = sum(isinstance(ann['segmentation'], dict) for ann in anns)
    num_empty = len(coco.dataset['images']) - len({ann['image_id'] for ann in anns})
    assert summary[split] == dict(images=len(coco.dataset['images']), annotations=len(anns),
                                  empty_images=num_empty, rle_annotations=num_rle,
                                  polygon_annotations=len(anns) - num_rle)
    assert 0 < num_rle < len(anns) / 2
    assert num_empty > 0


def test_coco_loads_in_mmdet(toy_coco):
    from mmdet.datasets import CocoDataset
    from mmdet.datasets.transforms import LoadAnnotations
    from mmcv.transforms import LoadImageFromFile

    root, summary = toy_coco
    dataset = CocoDataset(
        data_root=str(root), ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        metainfo=dict(classes=TOY_COCO_CLASSES, palette=TOY_COCO_PALETTE), filter_cfg=None,
        pipeline=[LoadImageFromFile(), LoadAnnotations(with_bbox=True, with_mask=True)])
    assert len(dataset) == summary['train']['images']
    assert dataset.cat_ids == list(TOY_COCO_CATEGORY_IDS)
    coco = COCO(str(root / 'annotations' / 'instances_train.json'))
    num_instances = 0
    for index in range(len(dataset)):
        sample = dataset[index]
        info = dataset.get_data_info(index)
        anns = coco.imgToAnns[info['img_id']]
        assert sample['img'].shape[:2] == (info['height'], info['width'])
        assert sample['gt_bboxes_labels'].tolist() == [
            TOY_COCO_CATEGORY_IDS.index(ann['category_id']) for ann in anns]
        assert sample['gt_masks'].areas.tolist() == [ann['area'] for ann in anns]
        num_instances += len(anns)
    assert num_instances == summary['train']['annotations']


@pytest.mark.parametrize('split', ['train', 'val'])
def test_ade_layout_and_labels(toy_ade, split):
    root, summary = toy_ade
    data = root / 'ADEChallengeData2016'
    images = sorted((data / 'images' / ADE_SPLITS[split]).iterdir())
    labels = sorted((data / 'annotations' / ADE_SPLITS[split]).iterdir())
    assert len(images) == summary[split]['images']
    assert [p.stem for p in images] == [p.stem for p in labels]
    assert images[0].name == f'ADE_{split}_00000001.jpg'
    seen = set()
    for image_path, label_path in zip(images, labels):
        label = cv2.imread(str(label_path), cv2.IMREAD_UNCHANGED)
        assert label.dtype == np.uint8 and label.shape == cv2.imread(str(image_path)).shape[:2]
        seen |= set(np.unique(label).tolist())
    assert seen <= set(range(len(TOY_ADE_CLASSES) + 1))
    assert {0, 1, 2} <= seen
    assert summary[split]['ignored_fraction'] > 0
    assert list(summary[split]['class_fraction']) == list(TOY_ADE_CLASSES)


def test_ade_loads_in_mmseg(toy_ade):
    from mmseg.datasets import ADE20KDataset, BaseSegDataset
    from mmseg.datasets.transforms import LoadAnnotations

    root, summary = toy_ade
    common = dict(data_root=str(root / 'ADEChallengeData2016'),
                  data_prefix=dict(img_path='images/validation',
                                   seg_map_path='annotations/validation'))
    assert len(ADE20KDataset(pipeline=[], **common)) == summary['val']['images']
    # ADE20KDataset only accepts classes among its own 150 names, hence BaseSegDataset
    # with ADE20KDataset's settings in the toy configs.
    metainfo = dict(classes=TOY_ADE_CLASSES, palette=TOY_ADE_PALETTE)
    with pytest.raises(ValueError, match='not a subset'):
        ADE20KDataset(metainfo=metainfo, pipeline=[], **common)
    dataset = BaseSegDataset(img_suffix='.jpg', seg_map_suffix='.png', reduce_zero_label=True,
                             metainfo=metainfo, pipeline=[LoadAnnotations()], **common)
    assert len(dataset) == summary['val']['images']
    assert dataset.metainfo['classes'] == TOY_ADE_CLASSES
    values = set()
    for index in range(len(dataset)):
        values |= set(np.unique(dataset[index]['gt_seg_map']).tolist())
    assert values <= set(range(len(TOY_ADE_CLASSES))) | {255}
    assert 255 in values and {0, 1} <= values


@pytest.mark.parametrize('kind', ['coco', 'ade', 'imagenet'])
@pytest.mark.parametrize('kwargs, match', [
    (dict(num_train=0), 'num_train must be a positive integer'),
    (dict(num_val=-2), 'num_val must be a positive integer'),
    (dict(num_train=2.5), 'num_train must be a positive integer'),
    (dict(seed=-1), 'seed must be a non-negative integer'),
])
def test_bad_arguments(tmp_path, kind, kwargs, match):
    with pytest.raises(ValueError, match=match):
        GENERATORS[kind](tmp_path / 'out', **{'num_train': 1, 'num_val': 1, **kwargs})
    assert not any(tmp_path.iterdir())


def test_out_dir_rules(tmp_path):
    (tmp_path / 'notes').mkdir()
    (tmp_path / 'notes' / 'keep.txt').write_text('keep me')
    with pytest.raises(ValueError, match='out_dir .*notes.* not a toy coco dataset'):
        make_toy_coco(tmp_path / 'notes', num_train=1, num_val=1)
    assert (tmp_path / 'notes' / 'keep.txt').read_text() == 'keep me'
    (tmp_path / 'file').write_text('')
    with pytest.raises(ValueError, match='out_dir .*file.* not a directory'):
        make_toy_ade(tmp_path / 'file', num_train=1, num_val=1)
    make_toy_ade(tmp_path / 'ade', num_train=1, num_val=1)
    with pytest.raises(ValueError, match='not a toy coco dataset'):
        make_toy_coco(tmp_path / 'ade', num_train=1, num_val=1)
    # Empty directories and toy datasets of the same kind are replaced.
    (tmp_path / 'empty').mkdir()
    assert make_toy_coco(tmp_path / 'empty', num_train=1, num_val=1)['train']['images'] == 1
    assert make_toy_ade(tmp_path / 'ade', num_train=2, num_val=1)['train']['images'] == 2
    assert len(list((tmp_path / 'ade').rglob('*.jpg'))) == 3


def test_existing_toy_summary(tmp_path):
    summary = make_toy_coco(tmp_path / 'coco', num_train=2, num_val=1, seed=3)
    params = dict(seed=3, num_train=2, num_val=1)
    assert existing_toy_summary(tmp_path / 'coco', 'coco', **params) == summary
    assert existing_toy_summary(tmp_path / 'coco', 'ade', **params) is None
    assert existing_toy_summary(tmp_path / 'coco', 'coco', **{**params, 'seed': 4}) is None
    assert existing_toy_summary(tmp_path / 'coco', 'coco', **{**params, 'num_val': 2}) is None
    assert existing_toy_summary(tmp_path / 'missing', 'coco', **params) is None
    assert existing_toy_summary(tmp_path / 'coco', 'coco', **params,
                                image_size=(100, 200)) is None


def test_ensure_toy_dataset_generates_once_unless_forced(tmp_path):
    params = dict(seed=1, num_train=2, num_val=1, image_size=(64, 80))
    summary, generated = ensure_toy_dataset(tmp_path / 'ade', 'ade', **params)
    assert generated and summary['train']['images'] == 2
    meta = (tmp_path / 'ade' / 'toy_meta.json').stat().st_mtime_ns
    assert ensure_toy_dataset(tmp_path / 'ade', 'ade', **params) == (summary, False)
    assert (tmp_path / 'ade' / 'toy_meta.json').stat().st_mtime_ns == meta
    assert ensure_toy_dataset(tmp_path / 'ade', 'ade', force=True, **params) == (summary, True)
    assert ensure_toy_dataset(tmp_path / 'ade', 'ade', **{**params, 'num_val': 2})[1]


@pytest.mark.parametrize('kind', ['coco', 'ade', 'imagenet'])
def test_image_size_range(tmp_path, kind):
    GENERATORS[kind](tmp_path / kind, num_train=6, num_val=1, seed=0, image_size=(70, 90))
    images = [cv2.imread(str(p)) for p in (tmp_path / kind).rglob('*.jpg')]
    assert len(images) == 7
    assert all(70 <= side <= 90 for image in images for side in image.shape[:2])
    assert existing_toy_summary(tmp_path / kind, kind, seed=0, num_train=6, num_val=1,
                                image_size=(70, 90)) is not None


@pytest.mark.parametrize('size', [(63, 100), (120, 100), (64, 100.0), (64,)])
def test_image_size_refused(tmp_path, size):
    with pytest.raises(ValueError, match=r'image_size must be \(min, max\) side lengths'):
        make_toy_coco(tmp_path / 'coco', num_train=1, num_val=1, image_size=size)


def run_cli(*args: str) -> str:
    return subprocess.run([sys.executable, 'tools/make_toy_data.py', *args], cwd=ROOT,
                          check=True, capture_output=True, text=True).stdout


@pytest.mark.slow
def test_cli_skips_unchanged_datasets(tmp_path):
    args = ['--out-dir', str(tmp_path), '--num-train', '2', '--num-val', '1']
    assert run_cli(*args).count('generated in') == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ['toy_ade', 'toy_coco',
                                                          'toy_imagenet']
    # A file added after generation shows whether a run replaced the dataset.
    marker = tmp_path / 'toy_coco' / 'marker'
    marker.write_text('')
    assert run_cli(*args).count('up to date') == 3
    assert marker.exists()
    output = run_cli(*args, '--only', 'coco', '--force')
    assert output.count('generated in') == 1 and 'toy_ade' not in output
    assert not marker.exists()


def test_imagenet_layout_and_loading(tmp_path):
    """mmpretrain's ImageNet layout: class folders, meta/<split>.txt with one
    "<class>/<file> <label>" line per image, balanced classes; mmpretrain's ImageNet
    dataset reads it with the toy classes and the labels of the folders."""
    from mmpretrain.datasets import ImageNet
    root = tmp_path / 'toy_imagenet'
    summary = make_toy_imagenet(root, num_train=10, num_val=7, seed=0)
    assert summary['train'] == dict(images=10, per_class={c: 2 for c in TOY_IMAGENET_CLASSES})
    assert summary['val']['per_class'] == dict(zip(TOY_IMAGENET_CLASSES, (2, 2, 1, 1, 1)))
    lines = (root / 'meta' / 'val.txt').read_text().splitlines()
    assert lines[:2] == ['circle/val_00000001.jpg 0', 'rectangle/val_00000002.jpg 1']
    for line in lines:
        rel, label = line.split()
        assert rel.split('/')[0] == TOY_IMAGENET_CLASSES[int(label)]
        assert cv2.imread(str(root / 'val' / rel)) is not None
    dataset = ImageNet(data_root=str(root), split='val', classes=list(TOY_IMAGENET_CLASSES),
                       pipeline=[])
    assert len(dataset) == 7
    assert [dataset.get_data_info(i)['gt_label'] for i in range(7)] == [0, 1, 2, 3, 4, 0, 1]
    assert dataset.metainfo['classes'] == TOY_IMAGENET_CLASSES


def test_unknown_toy_kind_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"kind must be one of \('coco', 'ade', 'imagenet'\), "
                       r"got 'voc'"):
        ensure_toy_dataset(tmp_path / 'x', 'voc')
