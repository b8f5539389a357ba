# Semantic FPN with a TRT-ViT-A backbone on ADE20K, 512x512 crops: the head the TRT-ViT
# and Next-ViT papers report, with the schedule they take from PVT (Wang et al. 2021):
# AdamW lr 1e-4, weight decay 1e-4, poly decay (power 0.9) over 40k iterations at batch
# 32 = 80k here at 4 GPUs x 4 images. The full Semantic FPN config; variants, Next-ViT
# and R50 are deltas on it.
_base_ = ['mmseg::sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py',
          '../_base_/models/trtvit_a.py']

custom_imports = dict(imports=['trtvit_dense'], allow_failed_imports=False)

# Plain BN everywhere (mmseg's bases use SyncBN); `sync_bn` converts it under a
# distributed launcher on GPU.
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    pretrained=None,  # mmseg's base points at open-mmlab://resnet50_v1c
    backbone={{_base_.trtvit_a_backbone}},  # see _base_/models/trtvit_a.py
    neck=dict(in_channels={{_base_.trtvit_a_channels}}),
    decode_head=dict(norm_cfg=norm_cfg))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=1e-4),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.))
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=80000, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=80000, val_interval=8000)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=8000))

sync_bn = 'torch'
