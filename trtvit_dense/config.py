"""The ground floor: reading a model config, knowing its task, describing and checking
its model, and the parts of it every layer reads (its datasets and test transforms).

Every tool and layer loads configs through :func:`load_config`; configs shipped with the
package are found by :func:`package_config` (``trtvit_dense::<path>`` in ``_base_`` and
on the command line, as ``mmdet::`` works for mmdet's). Nothing here imports another
trtvit_dense layer but :mod:`trtvit_dense.tasks`.
"""
from __future__ import annotations

import difflib
import importlib
import inspect
import os.path as osp
import re
from pathlib import Path
from typing import Dict, Iterable, Optional

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope

from .tasks import TASKS, Task, task_of_scope

__all__ = ['ConfigError', 'PACKAGE_SCOPE', 'package_config_root', 'package_config',
           'resolve_config_path', 'check_config_file', 'load_config', 'task_of',
           'describe_model', 'check_model', 'model_weight_shapes', 'dataset_leaves',
           'split_dataset_config', 'split_transforms', 'build_split_dataset',
           'ANNOTATION_LOADERS']

PACKAGE_SCOPE = 'trtvit_dense'
# test-pipeline steps that read ground truth; inference on bare images leaves them out
ANNOTATION_LOADERS = ('LoadAnnotations', 'LoadPanopticAnnotations')
# Wrappers whose real dataset sits in `dataset` (or `datasets`).
_WRAPPERS = ('RepeatDataset', 'ClassBalancedDataset', 'MultiImageMixDataset')

class ConfigError(ValueError):
    """A config, its data or a command-line input that cannot work, with the fix."""


# -- where configs are ------------------------------------------------------------------

def package_config_root() -> Path:
    """The configs shipped with the package: ``trtvit_dense/.mim/configs`` (a link to the
    checkout's ``configs/`` in a source tree, a copy in an installed wheel)."""
    return Path(__file__).resolve().parent / '.mim' / 'configs'


def package_config(name: str) -> str:
    """The path of the shipped config ``name`` (``'mask_rcnn/mask-rcnn_trtvit-a_fpn_1x_coco.py'``
    or ``'trtvit_dense::mask_rcnn/...'``), wherever the package is installed."""
    if name.startswith(f'{PACKAGE_SCOPE}::'):
        name = name[len(PACKAGE_SCOPE) + 2:]
    path = package_config_root() / name
    if not path.is_file():
        raise ConfigError(f'trtvit_dense ships no config {name!r} (looked in '
                          f'{package_config_root()})')
    return str(path)


def resolve_config_path(path: str | Path) -> str:
    """A config path as given, or the shipped config it names with ``trtvit_dense::``."""
    path = str(path)
    return package_config(path) if path.startswith(f'{PACKAGE_SCOPE}::') else path


def _register_package_scope() -> None:
    """Let mmengine resolve ``_base_ = 'trtvit_dense::...'`` like ``mmdet::``.

    mmengine looks such configs up in ``<package>/.mim/configs`` (after its
    ``.mim/model-index.yml``) of the packages it knows by name, and finds the package
    from its distribution's location, which for an editable install is site-packages,
    not the source tree. So the scope is added to its table, and its package lookup
    answers for this package with the folder this module was imported from."""
    from mmengine.config import config as mm_config
    from mmengine.config import utils
    utils.MODULE2PACKAGE.setdefault(PACKAGE_SCOPE, PACKAGE_SCOPE)
    lookup = mm_config.get_installed_path
    if getattr(lookup, 'trtvit_dense', False):
        return

    def get_installed_path(package: str) -> str:
        if package == PACKAGE_SCOPE:
            return str(Path(__file__).resolve().parent)
        return lookup(package)

    get_installed_path.trtvit_dense = True
    mm_config.get_installed_path = get_installed_path

    # mmengine marks every type dict of a ``scope::`` base with ``_scope_=scope`` and
    # builds it from that scope's registries. ``trtvit_dense`` names configs, not a
    # registry scope (a shipped config gets its own from its mmdet::/mmseg::/mmpretrain::
    # base): such a mark would send e.g. mmseg's BaseSegDataset to mmengine's root
    # registry, which does not hold it. So its bases carry no scope of their own.
    get_cfg_path = mm_config.Config._get_cfg_path

    def _get_cfg_path(cfg_path: str, filename: str):
        path, scope = get_cfg_path(cfg_path, filename)
        return path, (None if scope == PACKAGE_SCOPE else scope)

    mm_config.Config._get_cfg_path = staticmethod(_get_cfg_path)


_register_package_scope()


# -- loading -------------------------------------------------------------------------------

def check_config_file(path: str) -> None:
    """A config path must name a file."""
    if not osp.isfile(path):
        raise ConfigError(f'config file {path!r} does not exist; pass the path of a '
                          'config, e.g. configs/mask_rcnn/mask-rcnn_trtvit-a_fpn_1x_coco.py')


def load_config(path: str, cfg_options: Optional[Dict] = None) -> Config:
    """Read a config file (or a shipped ``trtvit_dense::`` config), apply
    ``--cfg-options`` overrides and check its task and that its model builds."""
    path = resolve_config_path(path)
    check_config_file(path)
    try:
        cfg = Config.fromfile(path)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
    except Exception as e:  # noqa: BLE001 - syntax errors, missing bases, bad options
        detail = ' '.join(str(e).split()) or type(e).__name__
        raise ConfigError(f'config {path!r} cannot be read: {type(e).__name__}: '
                          f'{detail}') from None
    task_of(cfg)
    if 'model' not in cfg:
        raise ConfigError(f'config {path!r} has no model')
    check_model(cfg)
    return cfg


def task_of(cfg: Config) -> Task:
    """The :class:`~trtvit_dense.tasks.Task` of a model config, from its ``default_scope``."""
    scope = cfg.get('default_scope')
    task = task_of_scope(scope)
    if task is None:
        scopes = tuple(t.scope for t in TASKS.values())
        raise ConfigError(f'config default_scope is {scope!r}; trtvit-dense tools run '
                          f'{scopes} configs (inherit from an mmdet::, mmseg:: or mmpretrain:: base)')
    return task


# -- the model -----------------------------------------------------------------------------

def _models_registry(scope: str):
    return importlib.import_module(f'{scope}.registry').MODELS


# mmengine's build_from_cfg prefixes each nesting level: "class `X` in pkg/x.py: ..."
_BUILD_PREFIX = re.compile(r'class `(\w+)` in [^:]+: ')
_UNEXPECTED = re.compile(r"(\w+)\.__init__\(\) got an unexpected keyword argument '(\w+)'")


def _key_path(node, cls: str, key: str, path: str = 'model') -> Optional[str]:
    """The dotted config path of ``key`` in the dict of ``type`` ``cls`` under ``node``."""
    if isinstance(node, dict):
        if key in node and str(node.get('type', '')).split('.')[-1] == cls:
            return f'{path}.{key}'
        items = node.items()
    elif isinstance(node, (list, tuple)):
        items = ((f'{i}', v) for i, v in enumerate(node))
        return next((p for i, v in items
                     if (p := _key_path(v, cls, key, f'{path}[{i}]'))), None)
    else:
        return None
    return next((p for k, v in items if (p := _key_path(v, cls, key, f'{path}.{k}'))), None)


def _model_build_error(cfg: Config, error: Exception) -> str:
    """One line for a model that does not build: the config key, the class and a fix."""
    message = error.args[0] if isinstance(error, KeyError) and error.args else error
    text = ' '.join(str(message).split()) or type(error).__name__
    classes = _BUILD_PREFIX.findall(text)
    text = _BUILD_PREFIX.sub('', text)
    source = f' in {cfg.filename}' if cfg.filename else ''
    found = _UNEXPECTED.search(text)
    if found:
        cls, key = found.groups()
        where = _key_path(cfg.model.to_dict(), cls, key) or key
        hint = ''
        try:
            registry = _models_registry(cfg.get('default_scope', 'mmdet'))
            params = list(inspect.signature(registry.get(cls)).parameters)
            close = difflib.get_close_matches(key, params, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ''
        except (TypeError, ValueError):  # no signature to read
            pass
        return f'{where}{source} is not an argument of {cls}{hint}; fix the key'
    owner = f'{classes[-1]}: ' if classes else ''
    return f'the model{source} does not build: {owner}{text}'


def _build_on_meta(cfg: Config, model_cfg: Dict):
    scope = cfg.get('default_scope', 'mmdet')
    model_cfg = model_cfg.copy()
    model_cfg.pop('init_cfg', None)
    with DefaultScope.overwrite_default_scope(scope):
        try:
            with torch.device('meta'):
                return _models_registry(scope).build(model_cfg)
        except Exception as e:  # noqa: BLE001 - any constructor error is a config error
            if not _needs_real_tensors(e):
                raise ConfigError(_model_build_error(cfg, e)) from None
        try:  # a constructor that reads tensor values (mmpretrain's ResNet drop-path rates)
            return _models_registry(scope).build(model_cfg)
        except Exception as e:  # noqa: BLE001
            raise ConfigError(_model_build_error(cfg, e)) from None


def _needs_real_tensors(error: Exception) -> bool:
    """The constructor read a value from a tensor, which meta tensors do not hold."""
    return 'meta tensor' in str(error)


def _describe_backbone(cfg: Config) -> str:
    backbone = cfg.model.get('backbone') or {}
    arch = backbone.get('arch', backbone.get('depth', ''))
    return f"{backbone.get('type')}({arch!r})"


def describe_model(cfg: Config) -> str:
    """``"RetinaNet with TRTViT('a')"``: the model and backbone a config builds."""
    return f"{cfg.model.get('type')} with {_describe_backbone(cfg)}"


def check_model(cfg: Config) -> None:
    """The config's model builds (on the meta device: no weights are allocated);
    a typo'd argument or a wrong arch name is named with its config key."""
    _build_on_meta(cfg, cfg.model)


def model_weight_shapes(cfg: Config, part: Optional[str] = None) -> Dict[str, tuple]:
    """Shapes of the state dict of the config's model (or of ``model.<part>``, e.g.
    ``'backbone'``), from a build on the meta device."""
    model = _build_on_meta(cfg, cfg.model if part is None else cfg.model[part])
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


# -- datasets and transforms -------------------------------------------------------------

def dataset_leaves(dataset: Dict) -> Iterable[Dict]:
    """The dataset configs inside wrappers (``RepeatDataset``, ``ClassBalancedDataset``,
    ``MultiImageMixDataset``: ``dataset``; ``ConcatDataset``: each of ``datasets``)."""
    if dataset.get('type') in _WRAPPERS:
        yield from dataset_leaves(dataset.dataset)
    elif dataset.get('type') == 'ConcatDataset':
        for d in dataset.datasets:
            yield from dataset_leaves(d)
    else:
        yield dataset


def split_dataset_config(cfg: Config, split: str) -> dict:
    """The dataset config of ``<split>_dataloader`` (the first leaf inside wrappers)."""
    loader = cfg.get(f'{split}_dataloader')
    if loader is None:
        raise ConfigError(f'the config has no {split}_dataloader')
    return next(dataset_leaves(loader.dataset))  # the first, for a ConcatDataset


def _type_name(step) -> str:
    kind = step.get('type') if isinstance(step, dict) else step
    return kind if isinstance(kind, str) else getattr(kind, '__name__', type(step).__name__)


def split_transforms(cfg: Config, split: str = 'test', annotations: bool = True) -> list:
    """The transforms of the ``split`` dataloader's pipeline, built in the config's
    scope; without the annotation loaders when ``annotations`` is False. The pipeline
    must start with ``LoadImageFromFile``, which reads the image file."""
    from mmengine.dataset import Compose
    init_default_scope(cfg.default_scope)
    steps = list(split_dataset_config(cfg, split).get('pipeline') or [])
    if not annotations:
        steps = [s for s in steps if _type_name(s) not in ANNOTATION_LOADERS]
    transforms = list(Compose(steps).transforms)
    names = [type(t).__name__ for t in transforms]
    if not names or names[0] != 'LoadImageFromFile':
        raise ConfigError(f'the {split} pipeline must start with LoadImageFromFile (it '
                          f'reads the image file), got {names}')
    return transforms


def build_split_dataset(cfg: Config, split: str = 'test'):
    """The dataset of the config's ``<split>_dataloader``, annotations loaded."""
    from mmengine.registry import DATASETS
    init_default_scope(cfg.default_scope)
    loader = cfg.get(f'{split}_dataloader')
    if loader is None:
        raise ConfigError(f'the config has no {split}_dataloader')
    ds_cfg = loader.dataset.copy()
    ds_cfg['lazy_init'] = False
    return DATASETS.build(ds_cfg)
