# TRT-ViT-A ImageNet-1k classification, 300 epochs: the pretraining of the backbone
# every detection/segmentation config loads (`tools/train.py ... --backbone-weights`).
# The full config for this task; variants b-d and the ResNet-50 baselines are deltas.
#
# Recipe: the one hybrid ViTs are trained with (DeiT / PVT / Swin, as the TRT-ViT paper
# follows): mmpretrain's Swin data pipeline (RandomResizedCrop 224, flip, RandAugment
# rand-m9-mstd0.5, random erasing 0.25) and schedule (AdamW, cosine with warm-up), Mixup
# and CutMix, label smoothing; data in mmpretrain's layout under data/imagenet/
# (train/, val/, meta/{train,val}.txt).
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]

custom_imports = dict(imports=['trtvit_dense'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    # the base's normalisation (ImageNet mean/std, BGR -> RGB) inside the model, where
    # deployment and verification read it
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(
        type='TRTViT',
        arch='a',
        out_indices=(3, ),  # the last stage feeds the pooled head
        drop_path_rate=0.1,  # stochastic depth, as in the detection configs (b/c 0.2, d 0.3)
        init_cfg=None),  # TRTViT.init_weights: kaiming convs, trunc-normal linears
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=1536,  # == TRTViT('a').out_channels[-1]
        init_cfg=None,  # keep TRTViT's init; LinearClsHead's default is Normal(0.01)
        # label smoothing 0.1 (DeiT); Mixup/CutMix make soft targets, so no train accuracy
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        cal_acc=False),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),  # DeiT's mixup alpha
        dict(type='CutMix', alpha=1.0),  # DeiT's cutmix alpha (one of the two per batch)
    ]),
)

# 8 GPUs x 128 images = 1024, the batch the schedule's lr (1e-3 = 5e-4 x 1024 / 512)
# is set for; other batch sizes: tools/train.py --auto-scale-lr (linear scaling).
train_dataloader = dict(batch_size=128, num_workers=8)
val_dataloader = dict(batch_size=128, num_workers=8)
test_dataloader = val_dataloader

# The schedule's base: AdamW lr 1e-3, weight decay 0.05, no decay on norms and biases
# (norm/bias/flat_decay_mult=0), 20 epochs linear warm-up from lr x 1e-3, then cosine to
# 1e-5, 300 epochs, validation every epoch. Gradient clipping at 5.0 as Swin's configs.
optim_wrapper = dict(clip_grad=dict(max_norm=5.0))

# EMA of the weights (DeiT keeps one; off by default, as mmpretrain's Swin configs):
# custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL')]

default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=3, save_best='auto'))
sync_bn = 'torch'  # SyncBN only under a distributed launcher on GPU
