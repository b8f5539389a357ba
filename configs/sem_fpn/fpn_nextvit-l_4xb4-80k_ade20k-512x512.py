# Next-ViT-L delta on the Next-ViT-S Semantic FPN config (stochastic depth 0.2, its ImageNet rate).
_base_ = './fpn_nextvit-s_4xb4-80k_ade20k-512x512.py'

model = dict(backbone=dict(arch='l', drop_path_rate=0.2))
