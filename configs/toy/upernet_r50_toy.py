# ResNet-50 baseline on the toy data: the TRT-ViT-A toy config with only the backbone
# swapped to mmseg's ResNetV1c-50 (as configs/upernet/upernet_r50_*), trained from scratch
# like TRT-ViT-A.
_base_ = ['./upernet_trtvit-a_toy.py', '../_base_/models/resnet50.py']

model = dict(backbone={{_base_.resnet50_v1c_backbone}},
             decode_head=dict(in_channels={{_base_.resnet50_channels}}))
