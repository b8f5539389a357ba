# TRT-ViT-B delta on the TRT-ViT-A UPerNet config.
_base_ = './upernet_trtvit-a_4xb4-160k_ade20k-512x512.py'

model = dict(
    backbone=dict(arch='b', drop_path_rate=0.2),
    decode_head=dict(in_channels=[256, 512, 1024, 1792]))
