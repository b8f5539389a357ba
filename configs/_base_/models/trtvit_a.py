# The TRT-ViT-A backbone that the full configs put in place of mmdet's/mmseg's ResNet
# (`_delete_` drops every key of the backbone it replaces). Use as a second base:
#   model = dict(backbone={{_base_.trtvit_a_backbone}},
#                neck=dict(in_channels={{_base_.trtvit_a_channels}}))
# Variants b-d are deltas on it (arch, drop_path_rate, the neck's in_channels).
trtvit_a_backbone = dict(
    _delete_=True,
    type='TRTViT',
    arch='a',
    out_indices=(0, 1, 2, 3),  # FPN uses levels 1-3 (start_level=1) as in mmdet
    frozen_stages=-1,  # nothing frozen: the Transformer stage must adapt
    norm_eval=False,
    with_cp=False,
    drop_path_rate=0.1,  # stochastic depth for the ~25M-param variant
    # plain BN; mmengine converts it to SyncBN when the launcher is distributed (see
    # `sync_bn` in the configs)
    norm_cfg=dict(type='BN', requires_grad=True),
    # No weights are downloaded: pass ImageNet weights with
    # `tools/train.py ... --backbone-weights PATH [--backbone-prefix backbone.]`.
    init_cfg=None)
# == TRTViT('a').out_channels (tests/test_configs checks every config)
trtvit_a_channels = [256, 512, 1024, 1536]
