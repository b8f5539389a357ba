# Mask R-CNN TRT-ViT-A on the toy COCO data (tools/make_toy_data.py), the config the demo
# (`make demo`) trains: the real config with small images, 5 classes, narrower necks and
# heads and a short from-scratch CPU schedule.
_base_ = ['../mask_rcnn/mask-rcnn_trtvit-a_fpn_1x_coco.py', '../_base_/datasets/toy_coco.py',
          '../_base_/schedules/toy_det.py']

# data root, classes, image scale and pipelines: _base_/datasets/toy_coco.py

# Nothing is pretrained, so the settings follow mmdet's from-scratch configs: GroupNorm
# in the neck and mask head (without it the heads learn several times slower), and a
# GIoU box loss in the RoI head (its AP75 was the weak point). 128 channels instead of
# 256 are plenty for 5 classes and halve a step's time.
gn = dict(type='GN', num_groups=32, requires_grad=True)
channels = 128
model = dict(
    neck=dict(out_channels=channels, norm_cfg=gn),
    rpn_head=dict(in_channels=channels, feat_channels=channels),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=channels),
        bbox_head=dict(
            num_classes=5, in_channels=channels, fc_out_channels=512,
            reg_decoded_bbox=True,
            loss_bbox=dict(_delete_=True, type='GIoULoss', loss_weight=10.0)),
        mask_roi_extractor=dict(out_channels=channels),
        # 64 channels in the mask head's four 3x3 convs (128 in): they run on every
        # positive RoI (up to 64 a batch at 14x14), and at 128 channels they were a fifth
        # of a training step (1.5 s -> 1.3 s alone on one thread; bbox mAP 54.4 after 5
        # epochs vs 55.2 with 128 channels, tools/train.py: docs/measurements.md)
        mask_head=dict(num_classes=5, in_channels=channels, conv_out_channels=64,
                       norm_cfg=gn)),
    # A toy image holds 1-5 objects: 64 sampled RoIs per image (<= 16 positives) instead
    # of 512, and 200 RPN proposals instead of 2000.
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=200),
        rcnn=dict(sampler=dict(num=64))),
    # ... and 20 detections per image instead of 100 at test time: the mask head runs on
    # every kept box, and 100 of them made up most of a test image's time.
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=300), rcnn=dict(max_per_img=20)))

train_dataloader = {{_base_.toy_coco_instance_train_dataloader}}
val_dataloader = {{_base_.toy_coco_instance_val_dataloader}}
test_dataloader = val_dataloader
val_evaluator = {{_base_.toy_coco_evaluator}}
test_evaluator = val_evaluator

# Short schedule (_base_/schedules/toy_det.py): 5 epochs of the 180 non-empty images at
# batch 4 = 225 iterations, learning rate x0.1 for the last epoch. (6 epochs gave bbox mAP
# 54.5, 5 epochs 55.2, 4 epochs 49.4 under the demo's target of 50: docs/measurements.md.)
train_cfg = {{_base_.toy_det_5e.train_cfg}}
param_scheduler = {{_base_.toy_det_5e.param_scheduler}}
optim_wrapper = {{_base_.toy_det_5e.optim_wrapper}}
default_hooks = {{_base_.toy_det_5e.default_hooks}}
auto_scale_lr = {{_base_.toy_det_5e.auto_scale_lr}}
