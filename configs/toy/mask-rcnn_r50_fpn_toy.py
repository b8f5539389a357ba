# ResNet-50 baseline on the toy data: the TRT-ViT-A toy config with only the backbone
# swapped, so data, schedule and optimizer are identical. Nothing is pretrained here, so
# unlike mmdet's ImageNet-initialised R50 no stage is frozen and BN is trained, as in
# the TRT-ViT-A config.
_base_ = './mask-rcnn_trtvit-a_fpn_toy.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNet',
        depth=50,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        style='pytorch',
        init_cfg=None),
    neck=dict(in_channels=[256, 512, 1024, 2048]))
