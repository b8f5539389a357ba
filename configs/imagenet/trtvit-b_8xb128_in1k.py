# TRT-ViT-B delta on the TRT-ViT-A ImageNet-1k config (same recipe and schedule).
_base_ = './trtvit-a_8xb128_in1k.py'

model = dict(
    backbone=dict(arch='b', drop_path_rate=0.2),  # deeper variants: more stochastic depth
    head=dict(in_channels=1792))  # == TRTViT('b').out_channels[-1]
