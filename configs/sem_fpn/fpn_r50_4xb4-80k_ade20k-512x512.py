# ResNet-50 baseline (mmseg's ResNetV1c-50, as mmseg's Semantic FPN) under the TRT-ViT-A
# Semantic FPN recipe: only the backbone swapped.
_base_ = ['./fpn_trtvit-a_4xb4-80k_ade20k-512x512.py', '../_base_/models/resnet50.py']

model = dict(backbone={{_base_.resnet50_v1c_backbone}},
             neck=dict(in_channels={{_base_.resnet50_channels}}))
