# Next-ViT-S ImageNet-1k classification, 300 epochs: the TRT-ViT classifier's recipe
# (DeiT/Swin pipeline, AdamW + cosine, Mixup/CutMix, label smoothing) with the backbone
# swapped. timm's nextvit_small.bd_in1k weights load into it as they are; this config
# is for pretraining it here or fine-tuning those. Variants b and l are deltas.
_base_ = './trtvit-a_8xb128_in1k.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='NextViT',
        arch='s',
        out_indices=(3, ),  # the last stage feeds the pooled head
        drop_path_rate=0.1,  # Next-ViT-S's rate (B and L: 0.2)
        final_norm=True,  # timm's classifier normalises the last stage before pooling
        init_cfg=None),
    head=dict(in_channels=1024))  # == NextViT('s').out_channels[-1]
