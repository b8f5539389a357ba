# TRT-ViT-B delta on the TRT-ViT-A 3x config.
_base_ = './mask-rcnn_trtvit-a_fpn_3x_coco.py'

model = dict(
    backbone=dict(arch='b', drop_path_rate=0.2),
    neck=dict(in_channels=[256, 512, 1024, 1792]))
