"""trtvit-dense: TRT-ViT backbones for OpenMMLab detection and segmentation.

Importing the package (as configs do through ``custom_imports``) registers the TRT-ViT
and Next-ViT backbones, the ``imagenet://`` checkpoint scheme and the training hooks (:mod:`trtvit_dense.engine`), lets torch >= 2.6 load
mmengine checkpoints without disabling ``weights_only`` (see
:mod:`trtvit_dense.utils.checkpoint`) and lets mmengine find the shipped configs as
``trtvit_dense::<path>`` (:mod:`trtvit_dense.config`).

Layers, each importing only those before it: :mod:`.tasks`, :mod:`.config` and
:mod:`.checks` (the ground floor), :mod:`.models`, :mod:`.deploy`, :mod:`.benchmark`,
:mod:`.apis`; the command-line tools sit on top.
"""
from .utils import install_safe_globals
from .version import __version__

install_safe_globals()

from . import config  # noqa: E402,F401  (trtvit_dense:: configs)
from . import engine  # noqa: E402,F401  (registers the training hooks)
from .models import NextViT, TRTViT  # noqa: E402  (registers the backbones)
from .models.imagenet import register_scheme  # noqa: E402

register_scheme()  # init_cfg checkpoints 'imagenet://<backbone>'

__all__ = ['__version__', 'TRTViT', 'NextViT']
