from .backbones import NextViT, TRTViT

__all__ = ['NextViT', 'TRTViT']
