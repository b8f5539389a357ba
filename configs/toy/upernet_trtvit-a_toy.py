# UPerNet TRT-ViT-A on the toy ADE20K data (tools/make_toy_data.py), the config the demo
# (`make demo`) trains: the real config with 7 classes, 128x128 crops and a short
# from-scratch CPU schedule.
_base_ = '../upernet/upernet_trtvit-a_4xb4-160k_ade20k-512x512.py'

data_root = 'data/toy_ade/ADEChallengeData2016'
# == trtvit_dense.datasets.TOY_ADE_CLASSES / TOY_ADE_PALETTE (a test checks it); label
# PNG values 1..7, 0 = ignored (reduce_zero_label).
metainfo = dict(
    classes=('sky', 'ground', 'circle', 'rectangle', 'triangle', 'star', 'ring'),
    palette=[(135, 206, 235), (140, 100, 60), (220, 20, 60), (30, 60, 220),
             (30, 170, 60), (240, 200, 20), (200, 40, 200)])
crop_size = (128, 128)  # toy images are 128-192 px, resized to a long side of 160
num_classes = 7

model = dict(
    data_preprocessor=dict(size=crop_size),
    # UPerHead's 512 channels cost ~40 GMACs per 256x256 image in its stride-4 fusion
    # conv alone (9 s per batch-4 step on 2 cores); 128 (64 for the auxiliary FCN) is
    # plenty for 7 classes.
    decode_head=dict(num_classes=num_classes, channels=128),
    auxiliary_head=dict(num_classes=num_classes, channels=64))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    # scale the long side to 160 with +-25% jitter, as ADE20K's (2048, 512) x (0.5, 2)
    dict(type='RandomResize', scale=(160, 160), ratio_range=(0.75, 1.25), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(160, 160), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
# mmseg's ADE20KDataset only accepts its own 150 class names: read the same layout with
# BaseSegDataset and ADE20K's settings.
dataset = dict(
    type='BaseSegDataset',
    data_root=data_root,
    metainfo=metainfo,
    img_suffix='.jpg',
    seg_map_suffix='.png',
    reduce_zero_label=True)
train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        _delete_=True,
        data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
        pipeline=train_pipeline,
        **dataset))
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    dataset=dict(
        _delete_=True,
        data_prefix=dict(img_path='images/validation',
                         seg_map_path='annotations/validation'),
        pipeline=test_pipeline,
        **dataset))
test_dataloader = val_dataloader

# Short schedule: 80 iterations at batch 4 (1.6 epochs of the 200 images; the sky and
# ground and the colour-coded shapes are learnt fast: mIoU 75.1 after 80 iterations,
# 78.7 after 120, ~90 after 250; the demo's target is 60: docs/measurements.md).
max_iters = 80
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=30),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=30, end=max_iters, by_epoch=False),
]
# from scratch, small batch; fused: one AdamW kernel per parameter (4% of a CPU step)
optim_wrapper = dict(optimizer=dict(lr=1e-3, fused=True))
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
