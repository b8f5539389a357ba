# Next-ViT-S on the toy data: the TRT-ViT-A toy config with only the backbone swapped, so
# data, schedule and optimizer are identical (from scratch unless
# --backbone-weights nextvit-s=imagenet).
_base_ = ['./retinanet_trtvit-a_fpn_toy.py', '../_base_/models/nextvit_s.py']

model = dict(backbone={{_base_.nextvit_s_backbone}},
             neck=dict(in_channels={{_base_.nextvit_s_channels}}))
