"""Toy datasets in the on-disk formats of COCO instances, ADE20K and ImageNet."""
from .toy import (DEFAULT_IMAGE_SIZE, DEFAULT_NUM_TRAIN, DEFAULT_NUM_VAL, GENERATOR_VERSION,
                  TOY_ADE_CLASSES, TOY_ADE_PALETTE, TOY_COCO_CATEGORY_IDS, TOY_COCO_CLASSES,
                  TOY_COCO_PALETTE, TOY_DATASETS, TOY_IMAGENET_CLASSES, ensure_toy_dataset,
                  existing_toy_summary, make_toy_ade, make_toy_coco, make_toy_imagenet)

__all__ = [
    'DEFAULT_IMAGE_SIZE', 'DEFAULT_NUM_TRAIN', 'DEFAULT_NUM_VAL', 'GENERATOR_VERSION',
    'TOY_ADE_CLASSES', 'TOY_ADE_PALETTE', 'TOY_COCO_CATEGORY_IDS', 'TOY_COCO_CLASSES',
    'TOY_COCO_PALETTE', 'TOY_DATASETS', 'TOY_IMAGENET_CLASSES', 'ensure_toy_dataset',
    'existing_toy_summary', 'make_toy_ade', 'make_toy_coco', 'make_toy_imagenet'
]
