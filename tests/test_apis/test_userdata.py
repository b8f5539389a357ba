"""A user's dataset read and checked before training: what real data brings is handled
and said, or refused with one line naming the file and the fix."""
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import coco_semseg_as_user_layout
from trtvit_dense.datasets import (DataError, read_coco_dataset,
                                        read_segmentation_dataset)


def coco(tmp_path, images=6, categories=((1, 'a'), (3, 'b'), (7, 'unused')), extra=(),
         masks=False):
    """A COCO file with ``images`` 32x48 images, one box each (category 1 or 3; with
    ``masks``, the box's polygon too)."""
    folder = tmp_path / 'img'
    folder.mkdir(exist_ok=True)
    data = dict(images=[], annotations=[], categories=[dict(id=i, name=n)
                                                          for i, n in categories])
    for k in range(images):
        name = f'{k:04d}.jpg'
        cv2.imwrite(str(folder / name), np.full((32, 48, 3), 40 * k % 255, np.uint8))
        data['images'].append(dict(id=k + 1, file_name=name, height=32, width=48))
        data['annotations'].append(dict(id=k + 1, image_id=k + 1, category_id=1 + 2 * (k % 2),
                                        bbox=[1, 1, 10, 10], area=100, iscrowd=0))
        if masks:
            data['annotations'][-1]['segmentation'] = [[1, 1, 11, 1, 11, 11, 1, 11]]
    data['annotations'] += list(extra)
    path = tmp_path / 'instances.json'
    path.write_text(json.dumps(data))
    return path, folder


def test_coco_split_notes_and_written_files(tmp_path):
    crowd = dict(id=99, image_id=1, category_id=3, bbox=[0, 0, 5, 5], area=25, iscrowd=1)
    ann, img = coco(tmp_path, images=20, extra=[crowd])
    data = read_coco_dataset(ann, img, tmp_path / 'out', val_fraction=0.25)
    assert data.classes == ('a', 'b')  # 'unused' has no instance
    assert data.splits['train']['images'] == 15 and data.splits['val']['images'] == 5
    assert data.notes == [
        'instances.json split into 15 training and 5 validation images (every 4th image by '
        'file name)',
        'train: 1 crowd annotations: ignored in training and crowd regions in the COCO '
        'evaluation (e.g. 99)',
        'instances.json: category ids that are not contiguous (1..7, 3 categories): mmdet '
        'maps them to labels 0..2 in id order',
        'instances.json: 1 categories without any instance: left out of the classes (a head '
        'class that cannot be learnt) (e.g. unused)']
    assert data.findings == {'crowd': 1, 'category-ids-sparse': 1, 'category-unused': 1}
    written = json.loads(Path(data.splits['val']['ann_file']).read_text())
    assert [c['name'] for c in written['categories']] == ['a', 'b']
    assert [i['file_name'] for i in written['images']] == [f'{k:04d}.jpg' for k in
                                                          (3, 7, 11, 15, 19)]
    assert data.summary()['image_size'] == dict(min=[32, 48], median=[32, 48], max=[32, 48])


@pytest.mark.parametrize('change, match', [
    (lambda d: d['annotations'].append(dict(id=50, image_id=1, category_id=5, bbox=[0, 0, 1, 1])),
     r'annotation 50 in instances\.json has category_id 5, which is not among its '
     r'categories \[1, 3, 7\]; fix the file or add the category \[annotation-unknown-category\]'),
    (lambda d: d['annotations'].append(dict(id=51, image_id=77, category_id=1, bbox=[0, 0, 1, 1])),
     r'annotation 51 in instances\.json refers to image_id 77, which it does not list; add '
     r'the image or remove the annotation \[annotation-unknown-image\]'),
    (lambda d: d['images'].append(dict(id=100, file_name='gone.jpg', height=5, width=5)),
     r'1 images listed in instances\.json are not in .*img \(e\.g\. gone\.jpg\); point '
     r'--images at the folder that holds them'),
    (lambda d: d.pop('categories'), r'is not a COCO instances file: it lacks \[.categories.\]'),
])
def test_coco_errors_name_the_file_and_the_fix(tmp_path, change, match):
    ann, img = coco(tmp_path)
    data = json.loads(ann.read_text())
    change(data)
    ann.write_text(json.dumps(data))
    with pytest.raises(DataError, match=match):
        read_coco_dataset(ann, img, tmp_path / 'out', val_fraction=0.5)


def test_too_small_a_validation_split_is_refused(tmp_path):
    ann, img = coco(tmp_path, images=6)
    with pytest.raises(DataError, match=r'the validation split has 1 images, fewer than 4: '
                       r'too few to evaluate; give more images, a larger --val-fraction .*'
                       r'\[val-too-small\]$'):
        read_coco_dataset(ann, img, tmp_path / 'out', val_fraction=0.2)


def seg_dataset(root, n=8, classes=('sky', 'road', 'car'), value=2):
    (root / 'images').mkdir(parents=True)
    (root / 'labels').mkdir()
    (root / 'classes.txt').write_text('\n'.join(classes) + '\n')
    for k in range(n):
        cv2.imwrite(str(root / 'images' / f'{k:03d}.jpg'), np.zeros((20, 30, 3), np.uint8))
        label = np.zeros((20, 30), np.uint8)
        label[5:10, 5:10] = value
        label[0, 0] = 255
        cv2.imwrite(str(root / 'labels' / f'{k:03d}.png'), label)


def test_segmentation_split_lists_and_absent_classes(tmp_path):
    seg_dataset(tmp_path / 'seg')
    data = read_segmentation_dataset(tmp_path / 'seg', tmp_path / 'out', val_fraction=0.5)
    assert data.classes == ('sky', 'road', 'car')
    assert (data.splits['train']['images'], data.splits['val']['images']) == (4, 4)
    assert (tmp_path / 'out' / 'val.txt').read_text().split() == ['001', '003', '005', '007']
    assert data.notes[1] == ('seg: 1 classes without a pixel in the training split: they '
                             'cannot be learnt (e.g. road)')


@pytest.mark.parametrize('case, match', [
    ('value', r'label map .*000\.png has values \[7\] outside the 3 classes of the class '
              r'list \(0\.\.2, 255 = ignored\); remap them or add the classes'),
    ('lonely', r'1 images in .*images have no label map of the same name in .*labels '
               r'\(e\.g\. 003\.jpg: expected 003\.png\); add the label maps or remove the '
               r'images \[label-missing\]'),
    ('orphan', r'1 label maps in .*labels have no image of the same name'),
    ('size', r'label map .*000\.png is 10x20 but its image 000\.jpg is 30x20'),
    ('classes', r'class list .*classes\.txt does not exist'),
])
def test_segmentation_errors_name_the_file(tmp_path, case, match):
    root = tmp_path / 'seg'
    seg_dataset(root, value=7 if case == 'value' else 2)
    if case == 'lonely':
        (root / 'labels' / '003.png').unlink()
    elif case == 'orphan':
        (root / 'images' / '003.jpg').unlink()
    elif case == 'size':
        cv2.imwrite(str(root / 'labels' / '000.png'), np.zeros((20, 10), np.uint8))
    elif case == 'classes':
        (root / 'classes.txt').unlink()
    with pytest.raises(DataError, match=match):
        read_segmentation_dataset(root, tmp_path / 'out', val_fraction=0.5)


def test_coco128_as_a_user_dataset(shared_data, tmp_path):
    """COCO128: 71 of 80 classes used, ids up to 90, 10 crowd objects, 2 empty images."""
    root = shared_data('coco128')
    data = read_coco_dataset(root / 'annotations/instances_train2017.json',
                             root / 'train2017', tmp_path)
    assert len(data.classes) == 71
    assert data.splits['train']['crowd'] + data.splits['val']['crowd'] == 10
    assert data.splits['train']['empty_images'] + data.splits['val']['empty_images'] == 2
    assert any('category ids that are not contiguous (1..90' in n for n in data.notes)
    assert any('9 categories without any instance: left out' in n for n in data.notes)
    # the real export is clean: nothing repaired or dropped, only what is said of COCO
    assert set(data.findings) == {'crowd', 'image-empty', 'category-ids-sparse',
                                  'category-unused', 'category-val-only'}


def test_coco128_semseg_as_a_user_dataset(shared_data, tmp_path):
    classes = coco_semseg_as_user_layout(shared_data('coco128_semseg'), tmp_path / 'seg')
    data = read_segmentation_dataset(tmp_path / 'seg', tmp_path / 'out')
    assert data.classes == classes and len(classes) == 133
    assert (data.splits['train']['images'], data.splits['val']['images']) == (80, 20)
    stats = data.summary()['image_size']
    assert stats['max'][0] <= 640 and stats['max'][1] <= 640
    # the raw panoptic ids (up to 200) are outside a 133-class list: refused, not clipped
    shutil.copy(shared_data('coco128_semseg') / 'masks/val2017/000000000139.png',
                tmp_path / 'seg/labels/000000000139.png')
    with pytest.raises(DataError, match=r'label map .*000000000139\.png has values \[.*\] '
                       r'outside the 133 classes of the class list'):
        read_segmentation_dataset(tmp_path / 'seg', tmp_path / 'out')


def test_ade20k_layout_with_a_class_list(toy_data, tmp_path):
    """The ADE20K layout: 0 is ignored, value i is line i of the class list."""
    from trtvit_dense.datasets import TOY_ADE_CLASSES
    classes = tmp_path / 'classes.txt'
    classes.write_text('\n'.join(TOY_ADE_CLASSES) + '\n')
    root = toy_data / 'toy_ade' / 'ADEChallengeData2016'
    data = read_segmentation_dataset(root, tmp_path / 'out', classes_file=classes)
    assert data.classes == TOY_ADE_CLASSES
    assert data.splits['train']['reduce_zero_label'] and data.splits['val']['images'] == 4
    assert data.splits['val']['img_dir'].endswith('images/validation')
    short = tmp_path / 'short.txt'
    short.write_text('sky\nground\n')
    with pytest.raises(DataError, match=r'outside the 2 classes of the class list \(1\.\.2, 0 '
                       r'= ignored\)'):
        read_segmentation_dataset(root, tmp_path / 'out', classes_file=short)


def test_classification_folders_and_lists(toy_data, tmp_path):
    from trtvit_dense.datasets import read_classification_dataset
    from trtvit_dense.datasets import TOY_IMAGENET_CLASSES
    root = toy_data / 'toy_imagenet'
    data = read_classification_dataset(root)  # meta lists + classes.txt: label order kept
    assert data.classes == TOY_IMAGENET_CLASSES
    assert (data.splits['train']['images'], data.splits['val']['images']) == (10, 8)
    folders = tmp_path / 'folders'
    shutil.copytree(root / 'train', folders / 'train')
    shutil.copytree(root / 'val', folders / 'val')
    data = read_classification_dataset(folders)  # class folders: sorted names
    assert data.classes == tuple(sorted(TOY_IMAGENET_CLASSES)) and not data.notes
    (folders / 'val' / 'hexagon').mkdir()
    with pytest.raises(DataError, match=r"val has class folders \['hexagon'\] that .*train "
                       r'lacks'):
        read_classification_dataset(folders)
    shutil.rmtree(folders / 'val' / 'hexagon')
    (folders / 'val' / 'star' / 'broken.jpg').write_bytes(b'not a jpeg')
    with pytest.raises(DataError, match=r'folders: val/star/broken\.jpg cannot be decoded; '
                       r'remove or replace it \[image-unreadable\]'):
        read_classification_dataset(folders)  # no folder to write the kept list to
    data = read_classification_dataset(folders, out_dir=tmp_path / 'lists')
    assert data.notes == ['folders: 1 images that are empty, truncated or cannot be decoded: '
                          'left out with their annotations or labels (e.g. val/star/broken.jpg)']
    kept = Path(data.splits['val']['ann_file']).read_text().splitlines()
    assert len(kept) == data.splits['val']['images'] == 8 and 'star/broken.jpg 4' not in kept
    assert data.splits['train']['ann_file'] == str((tmp_path / 'lists/train.txt').resolve())
