# Next-ViT-S on the toy ImageNet data: the TRT-ViT-A toy config with only the backbone
# swapped (the full classifier's: timm's final norm before the pooled head).
_base_ = ['./classifier_trtvit-a_toy.py']

model = dict(
    backbone=dict(_delete_=True, type='NextViT', arch='s', out_indices=(3, ),
                  drop_path_rate=0.1, final_norm=True),
    head=dict(in_channels=1024))
