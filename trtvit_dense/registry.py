"""Registries.

TRT-ViT is registered in mmengine's *root* ``MODELS`` registry. mmdet's and mmseg's
``MODELS`` are children of it and fall back to their parent on lookup, so one class
registered once builds as ``type='TRTViT'`` from both detection and segmentation configs.
"""
from mmengine.registry import MODELS

__all__ = ['MODELS']
