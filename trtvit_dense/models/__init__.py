from .backbones import TRTViT

__all__ = ['TRTViT']
