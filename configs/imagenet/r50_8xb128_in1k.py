# ResNet-50 baseline: the TRT-ViT-A ImageNet-1k config with only the backbone swapped,
# so both backbones are pretrained by the same recipe (as "ResNet strikes back" trains
# ResNets with DeiT-style recipes). mmdet's Mask R-CNN / RetinaNet R50 configs load it
# (`--backbone-weights`); for UPerNet (ResNetV1c) use r50-v1c_8xb128_in1k.py.
# mmpretrain's own ResNet-50 recipe (SGD, 100 epochs) is mmpretrain::resnet/resnet50_8xb32_in1k.py.
_base_ = './trtvit-a_8xb128_in1k.py'

model = dict(
    backbone=dict(
        _delete_=True,  # every TRT-ViT key goes
        type='ResNet',
        depth=50,
        out_indices=(3, ),
        style='pytorch',
        drop_path_rate=0.05),  # ResNet strikes back's A2/A3 rate
    head=dict(in_channels=2048))
