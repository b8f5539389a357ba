# ResNet-50 baselines: the backbone a TRT-ViT config swaps in, so that everything else
# (heads, data, schedule, optimizer) is identical. Use as a second base and assign, e.g.
#   _base_ = ['./retinanet_trtvit-a_fpn_1x_coco.py', '../_base_/models/resnet50.py']
#   model = dict(backbone={{_base_.resnet50_backbone}},
#                neck=dict(in_channels={{_base_.resnet50_channels}}))
# `_delete_` drops every key of the TRT-ViT backbone it replaces.

# mmdet's ResNet-50 with mmdet's settings for ImageNet weights (stage 1 frozen, BN in
# eval); give the weights with tools/train.py --backbone-weights resnet50.pth, nothing
# is downloaded.
resnet50_backbone = dict(
    _delete_=True,
    type='ResNet',
    depth=50,
    out_indices=(0, 1, 2, 3),
    frozen_stages=1,
    norm_cfg=dict(type='BN', requires_grad=True),
    norm_eval=True,
    style='pytorch',
    init_cfg=None)
# ... trained from scratch (the toy configs): nothing frozen and BN trained, as TRT-ViT.
resnet50_scratch_backbone = dict(resnet50_backbone, frozen_stages=-1, norm_eval=False)
# mmseg's ResNetV1c-50 (deep stem, contracted dilation) with mmseg's UPerNet settings.
resnet50_v1c_backbone = dict(
    {k: v for k, v in resnet50_backbone.items() if k != 'frozen_stages'},
    type='ResNetV1c', norm_eval=False, contract_dilation=True)
# channels of the four stage outputs, for the neck / decode head
resnet50_channels = [256, 512, 1024, 2048]
