# Next-ViT-B delta on the Next-ViT-S config (stochastic depth 0.2, its ImageNet rate).
_base_ = './upernet_nextvit-s_4xb4-160k_ade20k-512x512.py'

model = dict(backbone=dict(arch='b', drop_path_rate=0.2))
