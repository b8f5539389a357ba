# Mask R-CNN + FPN with a TRT-ViT-A backbone on COCO, 1x schedule (12 epochs).
# The full detection config: variants, 3x and the R50 baseline are deltas on top of it.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['trtvit_dense'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='TRTViT',
        arch='a',
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,  # nothing frozen: the Transformer stage must adapt
        norm_eval=False,
        with_cp=False,
        drop_path_rate=0.1,  # stochastic depth for the ~25M-param variant
        # plain BN; mmengine converts it to SyncBN when the launcher is distributed
        # (see `sync_bn` below)
        norm_cfg=dict(type='BN', requires_grad=True),
        # No weights are downloaded: pass ImageNet weights with
        # `tools/train.py ... --backbone-weights PATH [--backbone-prefix backbone.]`.
        init_cfg=None),
    # Must equal TRTViT('a').out_channels (tests/test_configs checks every config).
    neck=dict(in_channels=[256, 512, 1024, 1536]))

# AdamW as for other hybrid backbones in mmdet (Swin, PVT): lr 1e-4 for batch 16
# (8 GPUs x 2 images), weight decay 0.05, none on norm layers and biases.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        _delete_=True, type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.),
    clip_grad=None)

# SyncBN only under a distributed launcher (mmengine converts BN there when this is
# set and reverts SyncBN in single-process runs); tools/train.py drops it on CPU,
# where torch's SyncBatchNorm cannot run.
sync_bn = 'torch'
