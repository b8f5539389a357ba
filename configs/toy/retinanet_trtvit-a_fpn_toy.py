# RetinaNet TRT-ViT-A on the toy COCO data: the real config with the toy settings of the
# Mask R-CNN toy config (same images, scale, widths, schedule), boxes only.
_base_ = '../retinanet/retinanet_trtvit-a_fpn_1x_coco.py'

data_root = 'data/toy_coco/'
# == trtvit_dense.datasets.TOY_COCO_CLASSES (a test checks it)
metainfo = dict(classes=('circle', 'rectangle', 'triangle', 'star', 'ring'))
img_scale = (160, 160)  # see mask-rcnn_trtvit-a_fpn_toy.py

# From scratch, RetinaNet's classification loss barely moved in 270 iterations without
# GroupNorm in the neck and head (toy bbox mAP 0.001); with it, and a GIoU box loss as in
# mmdet's retinanet giou config, it learns as fast as Mask R-CNN.
gn = dict(type='GN', num_groups=32, requires_grad=True)
channels = 128
model = dict(
    neck=dict(out_channels=channels, norm_cfg=gn),
    bbox_head=dict(
        num_classes=5, in_channels=channels, feat_channels=channels, norm_cfg=gn,
        reg_decoded_bbox=True,
        loss_bbox=dict(_delete_=True, type='GIoULoss', loss_weight=2.0)),
    test_cfg=dict(max_per_img=20))  # toy images hold <= 5 objects (as Mask R-CNN's)

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

# 5 epochs = 225 iterations, lr x0.1 for the last (bbox mAP 0.54 on its own; a 2x higher
# rate was worse).
max_epochs = 5
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=30),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[max_epochs - 1], gamma=0.1),
]
optim_wrapper = dict(optimizer=dict(lr=1e-3))  # from scratch, small batch
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
auto_scale_lr = dict(enable=False, base_batch_size=4)
