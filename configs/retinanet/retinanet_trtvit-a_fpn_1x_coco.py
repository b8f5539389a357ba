# RetinaNet + FPN with a TRT-ViT-A backbone on COCO, 1x schedule (12 epochs).
# The full config for this task; variants and the R50 baseline are deltas on it.
_base_ = ['mmdet::retinanet/retinanet_r50_fpn_1x_coco.py', '../_base_/models/trtvit_a.py',
          '../_base_/schedules/adamw_hybrid_det.py']

custom_imports = dict(imports=['trtvit_dense'], allow_failed_imports=False)

model = dict(
    backbone={{_base_.trtvit_a_backbone}},  # see _base_/models/trtvit_a.py
    neck=dict(in_channels={{_base_.trtvit_a_channels}}))

# AdamW as for the other hybrid backbones in mmdet (_base_/schedules/adamw_hybrid_det.py)
optim_wrapper = {{_base_.adamw_hybrid_optim_wrapper}}

sync_bn = 'torch'  # SyncBN only under a distributed launcher on GPU
