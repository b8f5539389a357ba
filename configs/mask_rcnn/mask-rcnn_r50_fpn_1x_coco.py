# ResNet-50 baseline: the TRT-ViT-A config with only the backbone swapped, so schedule,
# optimizer and data pipeline are identical. Settings of mmdet's R50 configs (stage 1
# frozen, BN in eval) assume ImageNet weights: give them with
# `tools/train.py ... --backbone-weights resnet50.pth`; without them, nothing is
# downloaded and training starts from scratch.
_base_ = './mask-rcnn_trtvit-a_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNet',
        depth=50,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        init_cfg=None),
    neck=dict(in_channels=[256, 512, 1024, 2048]))
