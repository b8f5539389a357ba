# ResNet-50 baseline: the TRT-ViT-A RetinaNet config with only the backbone swapped
# (mmdet's R50 settings for ImageNet weights, see _base_/models/resnet50.py).
_base_ = ['./retinanet_trtvit-a_fpn_1x_coco.py', '../_base_/models/resnet50.py']

model = dict(backbone={{_base_.resnet50_backbone}},
             neck=dict(in_channels={{_base_.resnet50_channels}}))
