# TRT-ViT-D delta on the TRT-ViT-A UPerNet config.
_base_ = './upernet_trtvit-a_4xb4-160k_ade20k-512x512.py'

model = dict(
    backbone=dict(arch='d', drop_path_rate=0.3),
    decode_head=dict(in_channels=[256, 512, 1024, 2048]))
