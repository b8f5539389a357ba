# TRT-ViT-A classification on the toy ImageNet data (tools/make_toy_data.py): the real
# ImageNet config with 5 classes, 112 px images and a short CPU schedule. Its backbone is
# the pretraining of the toy detection/segmentation configs (`--backbone-weights`).
_base_ = ['../imagenet/trtvit-a_8xb128_in1k.py', '../_base_/datasets/toy_imagenet.py']

num_classes = 5
model = dict(
    data_preprocessor=dict(num_classes=num_classes),
    head=dict(num_classes=num_classes, topk=(1, )),
    # no Mixup/CutMix: 200 images and a few epochs leave nothing to regularise
    train_cfg=dict(_delete_=True))

train_dataloader = {{_base_.toy_imagenet_train_dataloader}}
val_dataloader = {{_base_.toy_imagenet_val_dataloader}}
test_dataloader = val_dataloader
val_evaluator = {{_base_.toy_imagenet_evaluator}}
test_evaluator = val_evaluator

max_epochs = 12  # 300 iterations at batch 8
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    # 25-iteration (one epoch) linear warm-up, then cosine to 1% of the rate
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=25),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=25, end=max_epochs * 25,
         eta_min=1e-5),
]
# AdamW at 1e-3 on batch 8 (from scratch on a tiny batch, as the toy detection configs)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
auto_scale_lr = dict(enable=False, base_batch_size=8)
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(interval=max_epochs, max_keep_ckpts=1, save_best=None))
