"""The real COCO / ADE20K configs train and evaluate end to end on real images (the
shared COCO128 and ADE20K samples), briefly and at a small scale, through the tools in a
subprocess as a user runs them."""
import pytest

from test_train_test import KEEP_ALL_DETECTIONS, run_tool

pytestmark = pytest.mark.slow


def real_data_options(task, root):
    """Tiny runs of the real (COCO / ADE20K) configs on the shared sample data."""
    opts = ['randomness.seed=0', 'default_hooks.logger.interval=1', 'param_scheduler=[]',
            'train_dataloader.batch_size=2']
    for split in ('train', 'val', 'test'):
        opts += [f'{split}_dataloader.num_workers=0',
                 f'{split}_dataloader.persistent_workers=False']
    if task == 'mask_rcnn':
        ann = 'annotations/instances_train2017.json'
        for split in ('train', 'val', 'test'):
            opts += [f'{split}_dataloader.dataset.data_root={root}/',
                     f'{split}_dataloader.dataset.ann_file={ann}',
                     f'{split}_dataloader.dataset.data_prefix.img=train2017/']
        opts += [f'{s}_evaluator.ann_file={root}/{ann}' for s in ('val', 'test')]
        # 4 training images, 8 val/test images, at 320 px instead of 1333x800 (CPU time).
        opts += ['train_dataloader.dataset.indices=4',
                 'train_dataloader.dataset.pipeline.2.scale=(320,320)']
        opts += [f'{s}_dataloader.dataset.{k}' for s in ('val', 'test')
                 for k in ('indices=8', 'pipeline.1.scale=(320,320)')]
        opts += ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1000']
    else:
        for split in ('train', 'val', 'test'):
            opts += [f'{split}_dataloader.dataset.data_root={root}',
                     f'{split}_dataloader.dataset.data_prefix.img_path=images/validation',
                     f'{split}_dataloader.dataset.data_prefix.seg_map_path='
                     'annotations/validation']
        opts += ['train_dataloader.dataset.pipeline.2.scale=(512,256)',
                 'train_dataloader.dataset.pipeline.3.crop_size=(256,256)',
                 'model.data_preprocessor.size=(256,256)',
                 'val_dataloader.dataset.pipeline.1.scale=(512,256)',
                 'test_dataloader.dataset.pipeline.1.scale=(512,256)',
                 'train_cfg.max_iters=2', 'train_cfg.val_interval=1000',
                 'default_hooks.checkpoint.interval=2']
    return opts


@pytest.mark.parametrize('task,config,folder,metric,ckpt', [
    ('mask_rcnn', 'configs/mask_rcnn/mask-rcnn_trtvit-a_fpn_1x_coco.py', 'coco128',
     'coco/bbox_mAP', 'epoch_1.pth'),
    ('upernet', 'configs/upernet/upernet_trtvit-a_4xb4-160k_ade20k-512x512.py',
     'ade_sample', 'mIoU', 'iter_2.pth'),
])
def test_briefly_trained_model_on_real_data(task, config, folder, metric, ckpt, shared_data,
                                            tmp_path):
    """The real configs train and evaluate end to end on real images (metrics ~0).

    Over a minute each: the full-size configs (FPN/UPerNet widths, COCO's 80 or ADE20K's
    150 classes) built and run in two subprocesses (train, test), already cut to a few
    images at 320 / 256 px instead of 1333x800 and 512x512."""
    root = shared_data(folder)
    opts = real_data_options(task, root)
    run_tool('tools/train.py', config, '--work-dir', str(tmp_path), '--cfg-options', *opts)
    out = run_tool('tools/test.py', config, str(tmp_path / ckpt), '--work-dir',
                   str(tmp_path / 'test'), '--cfg-options', *opts,
                   *KEEP_ALL_DETECTIONS.get(task, []))
    assert metric in out
