# ResNetV1c-50 baseline (deep stem), the backbone of mmseg's UPerNet R50 configs: the
# ResNet-50 ImageNet-1k config with the stem swapped.
_base_ = './r50_8xb128_in1k.py'

model = dict(backbone=dict(type='ResNetV1c'))
