# TRT-ViT-D delta on the TRT-ViT-A config (stochastic depth grows with depth).
_base_ = './mask-rcnn_trtvit-a_fpn_1x_coco.py'

model = dict(
    backbone=dict(arch='d', drop_path_rate=0.3),
    neck=dict(in_channels=[256, 512, 1024, 2048]))
