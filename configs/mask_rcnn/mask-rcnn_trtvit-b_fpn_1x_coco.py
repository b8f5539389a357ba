# TRT-ViT-B delta on the TRT-ViT-A config (stochastic depth grows with depth).
_base_ = './mask-rcnn_trtvit-a_fpn_1x_coco.py'

model = dict(
    backbone=dict(arch='b', drop_path_rate=0.2),
    neck=dict(in_channels=[256, 512, 1024, 1792]))
