# ResNet-50 baseline: the TRT-ViT-A config with only the backbone swapped (mmdet's R50
# settings for ImageNet weights, see _base_/models/resnet50.py), so schedule, optimizer
# and data pipeline are identical.
_base_ = ['./mask-rcnn_trtvit-a_fpn_1x_coco.py', '../_base_/models/resnet50.py']

model = dict(backbone={{_base_.resnet50_backbone}},
             neck=dict(in_channels={{_base_.resnet50_channels}}))
