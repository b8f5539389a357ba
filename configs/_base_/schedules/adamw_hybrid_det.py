# The optimizer of the TRT-ViT detection configs, as for the other hybrid backbones in
# mmdet (Swin, PVT): AdamW, lr 1e-4 for batch 16 (8 GPUs x 2 images), weight decay 0.05,
# none on norm layers and biases. Use as a second base:
#   optim_wrapper = {{_base_.adamw_hybrid_optim_wrapper}}
adamw_hybrid_optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        _delete_=True, type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.),
    clip_grad=None)
