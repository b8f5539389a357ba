# UPerNet with a Next-ViT-S backbone on ADE20K, 512x512 crops, 160k iterations with
# 4 GPUs x 4 images: the TRT-ViT config's recipe with the backbone swapped. Variants b
# and l are deltas on it.
_base_ = ['./upernet_trtvit-a_4xb4-160k_ade20k-512x512.py', '../_base_/models/nextvit_s.py']

model = dict(
    backbone={{_base_.nextvit_s_backbone}},  # see _base_/models/nextvit_s.py
    decode_head=dict(in_channels={{_base_.nextvit_s_channels}}),
    auxiliary_head=dict(in_channels=512))  # the auxiliary FCN head reads level 2
