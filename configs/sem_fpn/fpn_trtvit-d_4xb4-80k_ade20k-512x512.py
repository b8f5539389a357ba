# TRT-ViT-D delta on the TRT-ViT-A Semantic FPN config (stochastic depth as its detection configs).
_base_ = './fpn_trtvit-a_4xb4-80k_ade20k-512x512.py'

model = dict(backbone=dict(arch='d', drop_path_rate=0.3), neck=dict(in_channels=[256, 512, 1024, 2048]))
