# RetinaNet + FPN with a Next-ViT-S backbone on COCO, 1x schedule (12 epochs): the TRT-ViT
# configs' recipe with the backbone swapped, so that the two compare under one schedule.
# Variants b and l are deltas on it.
_base_ = ['mmdet::retinanet/retinanet_r50_fpn_1x_coco.py', '../_base_/models/nextvit_s.py',
          '../_base_/schedules/adamw_hybrid_det.py']

custom_imports = dict(imports=['trtvit_dense'], allow_failed_imports=False)

model = dict(
    backbone={{_base_.nextvit_s_backbone}},  # see _base_/models/nextvit_s.py
    neck=dict(in_channels={{_base_.nextvit_s_channels}}))

# AdamW as for the other hybrid backbones in mmdet (_base_/schedules/adamw_hybrid_det.py)
optim_wrapper = {{_base_.adamw_hybrid_optim_wrapper}}

sync_bn = 'torch'  # SyncBN only under a distributed launcher on GPU
