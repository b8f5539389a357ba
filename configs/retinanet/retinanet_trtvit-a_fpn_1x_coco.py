# RetinaNet + FPN with a TRT-ViT-A backbone on COCO, 1x schedule (12 epochs).
# The full config for this task; variants and the R50 baseline are deltas on it.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['trtvit_dense'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='TRTViT',
        arch='a',
        out_indices=(0, 1, 2, 3),  # FPN uses levels 1-3 (start_level=1) as in mmdet
        frozen_stages=-1,
        norm_eval=False,
        with_cp=False,
        drop_path_rate=0.1,
        norm_cfg=dict(type='BN', requires_grad=True),
        init_cfg=None),  # weights: tools/train.py --backbone-weights PATH
    # Must equal TRTViT('a').out_channels (tests/test_configs checks every config).
    neck=dict(in_channels=[256, 512, 1024, 1536]))

# AdamW, lr 1e-4 for batch 16, weight decay 0.05 without decay on norms and biases,
# as for the other hybrid backbones in mmdet.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        _delete_=True, type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.),
    clip_grad=None)

sync_bn = 'torch'  # SyncBN only under a distributed launcher on GPU
