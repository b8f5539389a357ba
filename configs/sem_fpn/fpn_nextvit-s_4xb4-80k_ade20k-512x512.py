# Semantic FPN with a Next-ViT-S backbone on ADE20K: the TRT-ViT-A config's recipe with
# the backbone swapped (Next-ViT reports this head: 46.5 mIoU for S with ImageNet
# weights). Variants b and l are deltas on it.
_base_ = ['./fpn_trtvit-a_4xb4-80k_ade20k-512x512.py', '../_base_/models/nextvit_s.py']

model = dict(backbone={{_base_.nextvit_s_backbone}},  # see _base_/models/nextvit_s.py
             neck=dict(in_channels={{_base_.nextvit_s_channels}}))
