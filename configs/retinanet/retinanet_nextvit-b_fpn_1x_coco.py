# Next-ViT-B delta on the Next-ViT-S config (stochastic depth 0.2, its ImageNet rate).
_base_ = './retinanet_nextvit-s_fpn_1x_coco.py'

model = dict(backbone=dict(arch='b', drop_path_rate=0.2))
