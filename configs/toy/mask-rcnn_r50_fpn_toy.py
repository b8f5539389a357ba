# ResNet-50 baseline on the toy data: the TRT-ViT-A toy config with only the backbone
# swapped, so data, schedule and optimizer are identical; trained from scratch like
# TRT-ViT-A (nothing frozen, BN trained; see _base_/models/resnet50.py).
_base_ = ['./mask-rcnn_trtvit-a_fpn_toy.py', '../_base_/models/resnet50.py']

model = dict(backbone={{_base_.resnet50_scratch_backbone}},
             neck=dict(in_channels={{_base_.resnet50_channels}}))
