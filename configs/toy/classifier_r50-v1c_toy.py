# ResNetV1c-50 (deep stem) on the toy ImageNet data: the pretraining of the toy UPerNet
# R50 config, whose mmseg backbone is ResNetV1c.
_base_ = ['./classifier_r50_toy.py']

model = dict(backbone=dict(type='ResNetV1c'))
