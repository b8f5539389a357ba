# UPerNet with a TRT-ViT-A backbone on ADE20K, 512x512 crops, 160k iterations with
# 4 GPUs x 4 images. The full segmentation config; variants and R50 are deltas.
_base_ = ['mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py',
          '../_base_/models/trtvit_a.py']

custom_imports = dict(imports=['trtvit_dense'], allow_failed_imports=False)

# Plain BN everywhere (mmseg's bases use SyncBN); `sync_bn` converts it under a
# distributed launcher on GPU.
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    pretrained=None,  # mmseg's base points at open-mmlab://resnet50_v1c
    backbone={{_base_.trtvit_a_backbone}},  # see _base_/models/trtvit_a.py
    # the auxiliary FCN head reads level 2
    decode_head=dict(in_channels={{_base_.trtvit_a_channels}}, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=1024, norm_cfg=norm_cfg))

# AdamW as mmseg's Swin/UPerNet recipe (lr 6e-5 for batch 16), weight decay 0.05
# without decay on norms and biases.
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.))
param_scheduler = [
    # 1500-iteration linear warm-up, then linear (power 1) decay to 0 at 160k,
    # as in mmseg's Swin UPerNet configs.
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000, by_epoch=False),
]

sync_bn = 'torch'
