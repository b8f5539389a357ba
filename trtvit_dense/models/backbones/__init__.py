from .next_vit import NextViT, reparameterize
from .trt_vit import TRTViT, switch_to_deploy

__all__ = ['NextViT', 'TRTViT', 'deploy_form', 'reparameterize', 'switch_to_deploy']


def deploy_form(model):
    """Every backbone's deploy form below ``model`` (eval mode): TRT-ViT's BatchNorm
    folded into its convs, Next-ViT's pre-norms merged into its linear layers."""
    return reparameterize(switch_to_deploy(model))
