# 3x schedule (36 epochs) with multi-scale training as mmdet's `ms-poly-3x` configs:
# the shorter side is drawn from [640, 800] per image.
_base_ = './mask-rcnn_trtvit-a_fpn_1x_coco.py'

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True, poly2mask=False),
    # (1333, 640)-(1333, 800): mmdet's ms-poly-3x scale range
    dict(type='RandomResize', scale=[(1333, 640), (1333, 800)], keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

max_epochs = 36
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    # 500-iteration linear warm-up as in mmdet's schedules
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    # decay x0.1 at epochs 27 and 33 (3/4 and 11/12 of 36), mmdet's 3x milestones
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[27, 33],
         gamma=0.1),
]
