# Mask R-CNN TRT-ViT-A on the toy COCO data (tools/make_toy_data.py): the real config
# with small images, 5 classes and a short single-machine CPU schedule.
_base_ = '../mask_rcnn/mask-rcnn_trtvit-a_fpn_1x_coco.py'

data_root = 'data/toy_coco/'
# == trtvit_dense.datasets.TOY_COCO_CLASSES (a test checks it)
metainfo = dict(classes=('circle', 'rectangle', 'triangle', 'star', 'ring'))
# Toy images are 160-384 px; resizing the long side to 224 px keeps a CPU step at ~3 s
# (batch 4, 2 cores) while objects (18-50% of the short side) stay near or above the
# smallest anchor (32 px).
img_scale = (224, 224)

model = dict(
    roi_head=dict(bbox_head=dict(num_classes=5), mask_head=dict(num_classes=5)),
    # A toy image holds 1-5 objects: 32 sampled RoIs (<= 8 positives) per image
    # instead of 512 cut the mask head's cost (~0.46 GMACs per positive RoI, the
    # largest part of a CPU training step) by 16x, and 200 RPN proposals instead of
    # 2000 are plenty.
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=200),
        rcnn=dict(sampler=dict(num=32))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=300)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
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

# Short schedule: 8 epochs of the 180 non-empty images at batch 4 = 360 iterations
# (~19 min on 2 CPU cores), learning rate x0.1 for the last epoch.
max_epochs = 8
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[7],
         gamma=0.1),
]
# From scratch on a tiny batch: a higher AdamW rate than the 1e-4 of ImageNet-initialised
# COCO training.
optim_wrapper = dict(optimizer=dict(lr=4e-4))
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=1, max_keep_ckpts=2))
auto_scale_lr = dict(enable=False, base_batch_size=4)
