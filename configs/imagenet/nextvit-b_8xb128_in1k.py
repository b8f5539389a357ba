# Next-ViT-B delta on the Next-ViT-S classifier (stochastic depth 0.2).
_base_ = './nextvit-s_8xb128_in1k.py'

model = dict(backbone=dict(arch='b', drop_path_rate=0.2))
