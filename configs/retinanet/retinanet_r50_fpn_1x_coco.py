# ResNet-50 baseline: the TRT-ViT-A RetinaNet config with only the backbone swapped
# (mmdet's R50 settings; ImageNet weights via tools/train.py --backbone-weights PATH).
_base_ = './retinanet_trtvit-a_fpn_1x_coco.py'

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
