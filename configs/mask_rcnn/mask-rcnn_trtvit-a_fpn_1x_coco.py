# Mask R-CNN + FPN with a TRT-ViT-A backbone on COCO, 1x schedule (12 epochs).
# The full detection config: variants, 3x and the R50 baseline are deltas on top of it.
_base_ = ['mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py', '../_base_/models/trtvit_a.py',
          '../_base_/schedules/adamw_hybrid_det.py']

custom_imports = dict(imports=['trtvit_dense'], allow_failed_imports=False)

model = dict(
    backbone={{_base_.trtvit_a_backbone}},  # see _base_/models/trtvit_a.py
    neck=dict(in_channels={{_base_.trtvit_a_channels}}))

# AdamW as for the other hybrid backbones in mmdet (_base_/schedules/adamw_hybrid_det.py)
optim_wrapper = {{_base_.adamw_hybrid_optim_wrapper}}

# SyncBN only under a distributed launcher (mmengine converts BN there when this is
# set and reverts SyncBN in single-process runs); tools/train.py drops it on CPU,
# where torch's SyncBatchNorm cannot run.
sync_bn = 'torch'
