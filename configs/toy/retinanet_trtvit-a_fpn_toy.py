# RetinaNet TRT-ViT-A on the toy COCO data: the real config with the toy data settings
# of the Mask R-CNN toy config (same images, scale, schedule), boxes only.
_base_ = '../retinanet/retinanet_trtvit-a_fpn_1x_coco.py'

data_root = 'data/toy_coco/'
# == trtvit_dense.datasets.TOY_COCO_CLASSES (a test checks it)
metainfo = dict(classes=('circle', 'rectangle', 'triangle', 'star', 'ring'))
img_scale = (224, 224)  # see mask-rcnn_trtvit-a_fpn_toy.py

model = dict(bbox_head=dict(num_classes=5))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=1,  # 2 CPU cores: one loads data while the other trains
    persistent_workers=True,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

max_epochs = 8  # as the Mask R-CNN toy config: 360 iterations, lr x0.1 for the last
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[7],
         gamma=0.1),
]
optim_wrapper = dict(optimizer=dict(lr=4e-4))  # from scratch, small batch
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=1, max_keep_ckpts=2))
auto_scale_lr = dict(enable=False, base_batch_size=4)
