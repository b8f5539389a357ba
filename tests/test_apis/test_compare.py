"""The compare command: configs written for a user's data (classes, heads, data files,
scale, schedule, deploy profile) that reload with the normal tools, and bad requests.
Whole runs of the command: test_compare_runs.py."""
import os
import re
from pathlib import Path

import mmcv
import numpy as np
import pytest

from trtvit_dense.apis import load_config
from trtvit_dense.apis.compare import (CompareModel, DataError, deploy_profile, plan_models,
                                       rescaled, training_order, write_model_config)
from trtvit_dense.datasets import read_coco_dataset, read_segmentation_dataset
from trtvit_dense.checks import check_config
from trtvit_dense.deploy.config import load_deploy_config
from trtvit_dense.engine.progress import progress_line

from test_userdata import coco, seg_dataset

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize('size, scale', [((480, 640), (640, 480)), ((333, 500), (1333, 800)),
                                         ((640, 427), (640, 480)), ((97, 131), (160, 160))])
def test_rescaled_is_mmcvs_keep_ratio_resize(size, scale):
    h, w = size
    expected = mmcv.imrescale(np.zeros((h, w, 3), np.uint8), scale).shape[:2]
    assert tuple(rescaled(np.array([size]), scale)[0]) == expected


def test_detection_configs_for_user_data(tmp_path):
    ann, img = coco(tmp_path, images=20, masks=True)
    data = read_coco_dataset(ann, img, tmp_path / 'data', val_fraction=0.25)
    models, deploy = plan_models(data, ['mask_rcnn', 'retinanet'], ['trtvit-a', 'r50'], 'full',
                                 tmp_path / 'configs')
    assert [m.name for m in models] == ['mask-rcnn_trtvit-a', 'mask-rcnn_r50',
                                        'retinanet_trtvit-a', 'retinanet_r50']
    for model in models:
        cfg = load_config(model.config)  # reloads as the tools load it
        assert cfg.train_dataloader.dataset.metainfo.classes == ('a', 'b')
        heads = ([cfg.model.roi_head.bbox_head, cfg.model.roi_head.mask_head]
                 if model.family == 'mask_rcnn' else [cfg.model.bbox_head])
        assert all(h.num_classes == 2 for h in heads)
        for split in ('train', 'val', 'test'):
            ds = cfg[f'{split}_dataloader'].dataset
            assert ds.ann_file == data.splits['train' if split == 'train' else 'val']['ann_file']
            assert ds.data_prefix.img == f'{img}/'
        assert cfg.val_evaluator.ann_file == data.splits['val']['ann_file']
        # 32x48 images: the scale is their size rounded up to 32, not COCO's 1333x800
        resize = [s for s in cfg.test_dataloader.dataset.pipeline if s.type == 'Resize']
        assert resize[0].scale == (64, 32)
        # 15 images at batch 2: 3000 iterations = 375 epochs, lr steps at 2/3 and 11/12
        assert cfg.train_cfg.max_epochs == 375
        assert cfg.param_scheduler[1].milestones == [250, 344]
        assert cfg.auto_scale_lr.enable
        check_config(cfg, ('train', 'val'))
    dcfg = load_deploy_config(str(deploy))
    # 32x48 at scale (64, 32) stays 32x48, padded to 32x64
    assert dcfg.min_shape == (1, 3, 32, 64) and dcfg.max_shape == (2, 3, 32, 64)
    assert dcfg.opt_shape == (1, 3, 32, 64)
    for shape in dcfg.verify_shapes:
        dcfg.check_shape(shape)
    text = Path(models[0].config).read_text()
    assert "_base_ = 'trtvit_dense::mask_rcnn/mask-rcnn_trtvit-a_fpn_1x_coco.py'" in text
    assert '# schedule: ' in text and '# image scale (long, short): ' in text


def test_segmentation_configs_and_the_profile_covers_every_image(tmp_path):
    seg_dataset(tmp_path / 'seg', n=10)
    data = read_segmentation_dataset(tmp_path / 'seg', tmp_path / 'data', val_fraction=0.5)
    models, deploy = plan_models(data, ['upernet'], ['trtvit-a', 'r50'], 'full',
                                 tmp_path / 'configs', epochs=2)
    assert [m.name for m in models] == ['upernet_trtvit-a', 'upernet_r50']
    cfg = load_config(models[0].config)
    assert cfg.model.decode_head.num_classes == cfg.model.auxiliary_head.num_classes == 3
    ds = cfg.train_dataloader.dataset
    assert (ds.type, ds.reduce_zero_label) == ('BaseSegDataset', False)
    assert [s.get('reduce_zero_label') for s in ds.pipeline if s.type == 'LoadAnnotations'
            ] == [False]
    # 20x30 images: short side 32 (rounded up), crop 32x32; 2 epochs of 5 images at batch 4
    assert cfg.model.data_preprocessor.size == (32, 32)
    assert cfg.train_cfg.max_iters == 4
    check_config(cfg, ('train', 'val'))
    dcfg = load_deploy_config(str(deploy))
    sizes = rescaled(data.sizes, (128, 32))
    assert all(dcfg.min_shape[2 + i] <= sizes[:, i].min() and
               sizes[:, i].max() <= dcfg.max_shape[2 + i] for i in range(2))


def test_a_profile_for_a_classifier_times_batch_8():
    plan = deploy_profile('classification', None, crop=224)
    assert plan['profile'] == dict(min_shape=[1, 3, 96, 96], opt_shape=[8, 3, 224, 224],
                                   max_shape=[8, 3, 448, 448])
    assert len(plan['shapes']) == 6 and [2, 3, 448, 448] in plan['shapes']


def test_bad_requests_are_one_line(tmp_path):
    ann, img = coco(tmp_path, images=20)
    data = read_coco_dataset(ann, img, tmp_path / 'data', val_fraction=0.25)
    with pytest.raises(DataError, match=r"unknown backbones \['swin-t'\]; choose from"):
        plan_models(data, ['retinanet'], ['swin-t'], 'full', tmp_path / 'c')
    with pytest.raises(DataError, match='upernet is a segmentation model; the dataset is '
                       'for detection'):
        write_model_config(data, 'upernet', 'trtvit-a', 'full', tmp_path / 'c')
    with pytest.raises(DataError, match="--recipe must be one of \\('full', 'toy'\\)"):
        plan_models(data, ['retinanet'], ['r50'], 'huge', tmp_path / 'c')


def test_progress_lines():
    running = dict(iter=59, iter_now=60, max_iters=225, epoch=1, max_epochs=5, loss=1.2345,
                   elapsed_s=70.2, eta_s=185.0, done=False)
    assert progress_line('retinanet_r50', running) == (
        'retinanet_r50: epoch 2/5, iter 60/225, loss 1.234, 1m10s, ETA 3m05s')
    assert progress_line('u', dict(iter_now=3, max_iters=120, max_epochs=None, loss=None,
                                   elapsed_s=4, eta_s=None)) == 'u: iter 3/120, 4s'
    assert progress_line('u', dict(done=True, elapsed_s=125)) == 'u: done in 2m05s'


def test_trainings_start_with_the_backbone_order_reversed_in_every_other_family():
    def model(family, backbone):
        return CompareModel(f'{family}_{backbone}', family, backbone, 'c.py', 'b.py', 'detection')
    planned = [model(f, b) for f in ('mask_rcnn', 'retinanet', 'upernet')
               for b in ('trtvit-a', 'nextvit-s', 'r50')]
    assert [m.name for m in training_order(planned)] == [
        'mask_rcnn_trtvit-a', 'mask_rcnn_nextvit-s', 'mask_rcnn_r50',
        'retinanet_r50', 'retinanet_nextvit-s', 'retinanet_trtvit-a',
        'upernet_trtvit-a', 'upernet_nextvit-s', 'upernet_r50']
    assert training_order(planned[:1]) == planned[:1] and training_order([]) == []


def run_compare_tool(*args):
    from tools import compare as tool
    tool.main(list(map(str, args)))


def test_compare_tool_refuses_bad_data_in_one_line(tmp_path):
    ann, img = coco(tmp_path, images=6)
    with pytest.raises(SystemExit, match=r'error: the validation split has 1 images'):
        run_compare_tool('--ann-file', ann, '--images', img, '--work-dir', tmp_path / 'w')
    assert not (tmp_path / 'w' / 'configs').exists()
    with pytest.raises(SystemExit):
        run_compare_tool('--task', 'segmentation')  # no --data-root


@pytest.mark.parametrize('recipe, epochs', [('full', None), ('toy', None), ('toy', 3)])
def test_classification_configs_for_an_imagenet_folder(toy_data, tmp_path, recipe, epochs):
    from trtvit_dense.datasets import read_classification_dataset
    data = read_classification_dataset(toy_data / 'toy_imagenet')
    models, deploy = plan_models(data, ['imagenet'], ['trtvit-a', 'r50', 'r50-v1c'], recipe,
                                 tmp_path / 'configs', epochs=epochs)
    assert [m.name for m in models] == ['classifier_trtvit-a', 'classifier_r50',
                                        'classifier_r50-v1c']
    assert load_config(models[2].config).model.backbone.type == 'ResNetV1c'
    for model in models:
        cfg = load_config(model.config)
        assert cfg.model.head.num_classes == cfg.model.data_preprocessor.num_classes == 5
        assert cfg.train_dataloader.dataset.type == 'CustomDataset'
        assert tuple(cfg.val_dataloader.dataset.classes) == data.classes
        assert cfg.val_evaluator.topk == (1, 5)
        expected = epochs or (300 if recipe == 'full' else 12)
        assert cfg.train_cfg.max_epochs == expected
        check_config(cfg, ('train', 'val'))
    dcfg = load_deploy_config(str(deploy))
    crop = 224 if recipe == 'full' else 112
    assert dcfg.opt_shape == (8, 3, crop, crop) and dcfg.task == 'classification'


def test_check_only_prints_the_plan_and_trains_nothing(toy_data, tmp_path, capsys):
    """--check-only: the data check, the configs, the plan with the time it expects from
    one measured step per model, and nothing trained or deployed."""
    coco_dir = toy_data / 'toy_coco'
    work = tmp_path / 'w'
    run_compare_tool('--ann-file', coco_dir / 'annotations/instances_train.json',
                     '--images', coco_dir / 'train', '--val-ann-file',
                     coco_dir / 'annotations/instances_val.json', '--val-images',
                     coco_dir / 'val', '--recipe', 'toy', '--models', 'retinanet',
                     '--backbones', 'trtvit-a', '--work-dir', work, '--check-only',
                     '--no-progress')
    out = capsys.readouterr().out
    assert '| retinanet_trtvit-a |' in out and 'toy/retinanet_trtvit-a_fpn_toy.py' in out
    assert '| scratch | 5 epochs | 160x160 |' in out  # the toy recipe's
    assert 'profile min 1x3x' in out and 'verified at 6 shapes' in out
    # one model: one job with every core's thread
    assert f'| retinanet_trtvit-a | {os.cpu_count()} |' in out
    expected = re.search(r'Expected: training ([\d.]+) min \(1 at a time\), evaluation '
                         r'([\d.]+) min, about ([\d.]+) min in all', out)
    assert expected and float(expected.group(3)) > 0, out
    assert (work / 'plan.md').read_text() in out
    assert sorted(p.name for p in work.iterdir()) == ['configs', 'data', 'plan.md']
    assert sorted(p.name for p in (work / 'configs').iterdir()) == [
        'deploy_detection.py', 'retinanet_trtvit-a.py']


def test_every_step_fails_in_one_line(toy_data, tmp_path, monkeypatch, capsys):
    """A training that fails and a step that breaks unexpectedly are each one error line
    naming it; --debug shows the traceback instead."""
    from trtvit_dense.apis import compare as api
    from trtvit_dense.apis import training
    coco_dir = toy_data / 'toy_coco'
    args = ['--ann-file', coco_dir / 'annotations/instances_train.json', '--images',
            coco_dir / 'train', '--val-ann-file', coco_dir / 'annotations/instances_val.json',
            '--val-images', coco_dir / 'val', '--recipe', 'toy', '--models', 'retinanet',
            '--backbones', 'trtvit-a', '--work-dir', tmp_path / 'w', '--no-progress']

    def failing_training(jobs, work_dir, *rest, **kw):
        raise training.TrainingError(f'training {jobs[0].name} failed: KeyError: \'bbox\'; '
                                     f'see {work_dir}/{jobs[0].name}/training.log')
    monkeypatch.setattr(training, 'train_models', failing_training)
    with pytest.raises(SystemExit) as stop:
        run_compare_tool(*args)
    assert stop.value.code == ("error: training retinanet_trtvit-a failed: KeyError: 'bbox'; "
                               f"see {tmp_path / 'w' / 'train'}/retinanet_trtvit-a/training.log")

    def broken_benchmark(*a, **kw):
        raise IndexError('list index out of range\nsecond line')
    monkeypatch.setattr(training, 'train_models', lambda jobs, *a, **kw: [
        dict(name=j.name, config=j.config, checkpoint='x.pth', train_s=1.0) for j in jobs])
    import trtvit_dense.benchmark as bench
    monkeypatch.setattr(bench, 'run_benchmark', broken_benchmark)
    with pytest.raises(SystemExit) as stop:
        run_compare_tool(*args)
    assert stop.value.code == (
        'error: the benchmark (deploy, verify, evaluate, time) failed: IndexError: second '
        f"line; the work so far is in {tmp_path / 'w'} (re-run to continue, --debug for the "
        'traceback)')
    with pytest.raises(api.CompareStepError) as raised:
        run_compare_tool(*args, '--debug')
    assert isinstance(raised.value.__cause__, IndexError)
