# Next-ViT-S on the toy ADE20K data: the TRT-ViT-A toy config with only the backbone
# swapped (from scratch unless --backbone-weights nextvit-s=imagenet).
_base_ = ['./upernet_trtvit-a_toy.py', '../_base_/models/nextvit_s.py']

model = dict(backbone={{_base_.nextvit_s_backbone}},
             decode_head=dict(in_channels={{_base_.nextvit_s_channels}}),
             auxiliary_head=dict(in_channels=512))  # the auxiliary FCN head reads level 2
