# The toy detection schedules (configs/toy/*_fpn_toy.py): a few epochs from scratch on
# the toy COCO data at batch 4, a 30-iteration linear warm-up, the learning rate x0.1 for
# the last epoch, fused AdamW at 1e-3 (from scratch on a tiny batch: higher than the 1e-4 of
# ImageNet-initialised COCO training), one checkpoint at the end (saving model +
# optimizer takes seconds on a small CPU). Use as a second base and assign the parts of
# one schedule, e.g. `train_cfg = {{_base_.toy_det_5e.train_cfg}}`.


def __schedule(max_epochs):
    return dict(
        train_cfg=dict(max_epochs=max_epochs, val_interval=max_epochs),
        param_scheduler=[
            dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=30),
            dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
                 milestones=[max_epochs - 1], gamma=0.1),
        ],
        # fused: one AdamW kernel per parameter instead of several (4% of a CPU step)
        optim_wrapper=dict(optimizer=dict(lr=1e-3, fused=True)),
        default_hooks=dict(logger=dict(interval=10),
                           checkpoint=dict(interval=max_epochs, max_keep_ckpts=1)),
        auto_scale_lr=dict(enable=False, base_batch_size=4))


toy_det_5e = __schedule(5)  # RetinaNet and Mask R-CNN
