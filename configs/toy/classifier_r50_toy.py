# ResNet-50 baseline on the toy ImageNet data: the TRT-ViT-A toy config with only the
# backbone swapped (mmpretrain's ResNet-50, the keys of mmdet's: the toy Mask R-CNN /
# RetinaNet R50 configs load it).
_base_ = ['./classifier_trtvit-a_toy.py']

model = dict(
    backbone=dict(_delete_=True, type='ResNet', depth=50, out_indices=(3, ),
                  style='pytorch'),
    head=dict(in_channels=2048))
