# ResNet-50 baseline on the toy data: the TRT-ViT-A toy config with only the backbone
# swapped to mmseg's ResNetV1c-50 (as configs/upernet/upernet_r50_*), trained from scratch
# like TRT-ViT-A.
_base_ = './upernet_trtvit-a_toy.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNetV1c',
        depth=50,
        out_indices=(0, 1, 2, 3),
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        style='pytorch',
        contract_dilation=True,
        init_cfg=None),
    decode_head=dict(in_channels=[256, 512, 1024, 2048]))
