# ResNet-50 baseline: the TRT-ViT-A UPerNet config with only the backbone swapped to
# mmseg's ResNetV1c-50 (ImageNet weights via tools/train.py --backbone-weights PATH).
_base_ = ['./upernet_trtvit-a_4xb4-160k_ade20k-512x512.py', '../_base_/models/resnet50.py']

model = dict(backbone={{_base_.resnet50_v1c_backbone}},
             decode_head=dict(in_channels={{_base_.resnet50_channels}}))
