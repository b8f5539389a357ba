from .trt_vit import TRTViT, switch_to_deploy

__all__ = ['TRTViT', 'switch_to_deploy']
