# The Next-ViT-S backbone (timm's nextvit_small) that the full configs put in place of
# mmdet's/mmseg's ResNet (`_delete_` drops every key of the backbone it replaces). Use
# as a second base:
#   model = dict(backbone={{_base_.nextvit_s_backbone}},
#                neck=dict(in_channels={{_base_.nextvit_s_channels}}))
# Variants b and l are deltas on it (arch, drop_path_rate; the channels are the same).
nextvit_s_backbone = dict(
    _delete_=True,
    type='NextViT',
    arch='s',
    out_indices=(0, 1, 2, 3),  # FPN uses levels 1-3 (start_level=1) as in mmdet
    frozen_stages=-1,  # nothing frozen, as the TRT-ViT configs
    norm_eval=False,
    with_cp=False,
    drop_path_rate=0.1,  # Next-ViT-S's ImageNet rate (B and L: 0.2)
    # No weights are downloaded: pass timm's ImageNet weights (nextvit_small.bd_in1k,
    # keys as they are) with `tools/train.py ... --backbone-weights PATH`.
    init_cfg=None)
# == NextViT('s').out_channels (tests/test_configs checks every config); S, B and L alike
nextvit_s_channels = [96, 256, 512, 1024]
