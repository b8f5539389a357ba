"""The data layer: a user's dataset read and checked before anything trains (COCO
instances JSON, label-map folders, the ADE20K layout, class folders), the rules it is
checked by, the pre-flight check of the data a config reads, the image files the
package reads, and the toy datasets of the demo."""
from .images import IMAGE_EXTS, ImageProbe, folder_images, is_image_file, probe_image
from .rules import RULES, DataError, Findings, Rule, rules_table
from .toy import (DEFAULT_IMAGE_SIZE, DEFAULT_NUM_TRAIN, DEFAULT_NUM_VAL, GENERATOR_VERSION,
                  TOY_ADE_CLASSES, TOY_ADE_PALETTE, TOY_COCO_CATEGORY_IDS, TOY_COCO_CLASSES,
                  TOY_COCO_PALETTE, TOY_DATASETS, TOY_IMAGENET_CLASSES, ensure_toy_dataset,
                  existing_toy_summary, make_toy_ade, make_toy_coco, make_toy_imagenet)
from .user import (MIN_VAL_IMAGES, TASKS, DataSpec, UserDataset, image_size_stats,
                   read_classification_dataset, read_coco_dataset, read_dataset,
                   read_segmentation_dataset)

__all__ = [
    'IMAGE_EXTS', 'ImageProbe', 'folder_images', 'is_image_file', 'probe_image',
    'RULES', 'DataError', 'Findings', 'Rule', 'rules_table',
    'MIN_VAL_IMAGES', 'TASKS', 'DataSpec', 'UserDataset', 'image_size_stats',
    'read_classification_dataset', 'read_coco_dataset', 'read_dataset',
    'read_segmentation_dataset',
    'DEFAULT_IMAGE_SIZE', 'DEFAULT_NUM_TRAIN', 'DEFAULT_NUM_VAL', 'GENERATOR_VERSION',
    'TOY_ADE_CLASSES', 'TOY_ADE_PALETTE', 'TOY_COCO_CATEGORY_IDS', 'TOY_COCO_CLASSES',
    'TOY_COCO_PALETTE', 'TOY_DATASETS', 'TOY_IMAGENET_CLASSES', 'ensure_toy_dataset',
    'existing_toy_summary', 'make_toy_ade', 'make_toy_coco', 'make_toy_imagenet'
]
