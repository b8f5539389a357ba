"""Training and testing with mmdet/mmseg configs through mmengine's Runner.

One code path for every task: the task (:mod:`trtvit_dense.tasks`) is read from the
config's ``default_scope``, and only what differs between the tool chains (visualisation
hooks, dumping predictions) is read from it. The
command-line tools (``tools/train.py``, ``tools/test.py``) only parse arguments.
"""
import logging
import os
import os.path as osp
import time
from contextlib import ExitStack
from typing import Dict, Optional

import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from ..checks import check_config
from ..config import ConfigError, describe_model, model_weight_shapes, task_of
from ..deploy.backends import BACKENDS, DEVICES
from ..utils.atomic import atomic_dir, atomic_path
from ..utils.checkpoint import check_weights, checkpoint_damage, read_checkpoint, state_dict_of

__all__ = ['prepare_train_config', 'prepare_test_config', 'build_runner', 'train', 'test',
           'benchmark_training', 'deployed_model_config', 'release_process_group']


def _set_work_dir(cfg: Config, config_path: str, work_dir: Optional[str]) -> None:
    # Priority as in mmdet/mmseg: command line > config > ./work_dirs/<config name>.
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def _adapt_to_cpu(cfg: Config) -> None:
    """Let GPU-oriented configs run on CPU-only machines, distributed ones included."""
    if torch.cuda.is_available():
        return
    # torch's SyncBatchNorm only runs on accelerators: CPU runs keep plain BN.
    cfg.sync_bn = None
    if cfg.launcher != 'none':
        # gloo instead of the configs' nccl; DDP over CPU modules takes no device_ids
        # (mmengine passes LOCAL_RANK as one unless the wrapper config says otherwise).
        cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
        if cfg.get('model_wrapper_cfg') is None:
            cfg.model_wrapper_cfg = dict(
                type='MMDistributedDataParallel',
                device_ids=None,
                broadcast_buffers=False,
                find_unused_parameters=cfg.get('find_unused_parameters', False))


def _init_cpu_process_group(cfg: Config) -> None:
    # mmengine's pytorch launcher calls torch.cuda.set_device(LOCAL_RANK) before
    # init_process_group, which fails without CUDA; it skips its own initialisation
    # when a process group already exists.
    if (cfg.launcher == 'pytorch' and not torch.cuda.is_available()
            and not torch.distributed.is_initialized()):
        torch.distributed.init_process_group(backend='gloo')


def release_process_group() -> None:
    """Destroy the default process group, if one exists, before the process exits.

    Left to interpreter shutdown, gloo's worker threads can outlive the objects they
    reference and the process aborts ("terminate called without an active exception",
    SIGABRT) after the work is done, failing the whole torchrun job."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def _make_resumable(cfg: Config) -> None:
    """A run killed at any point resumes to the result of an uninterrupted one (under
    ``randomness.deterministic``): generator states in checkpoints, atomic saves.
    See :mod:`trtvit_dense.engine.hooks`."""
    hooks = cfg.get('custom_hooks') or []
    if not any(h.get('type') == 'RNGStateHook' for h in hooks):
        cfg.custom_hooks = [*hooks, dict(type='RNGStateHook')]
    checkpoint = (cfg.get('default_hooks') or {}).get('checkpoint')
    if checkpoint is not None and checkpoint.get('type') == 'CheckpointHook':
        checkpoint.type = 'AtomicCheckpointHook'
    # Persistent workers carry their random streams from epoch to epoch; a resumed run
    # starts new workers, re-seeded as at epoch 1. Without persistence every epoch
    # starts new workers with the same seeds, which a resumed run repeats. (An
    # iteration-based loop replays the skipped batches through its workers.)
    loader = cfg.get('train_dataloader') or {}
    train_cfg = cfg.get('train_cfg') or {}
    epoch_based = train_cfg.get('type') == 'EpochBasedTrainLoop' or (
        'type' not in train_cfg and 'max_epochs' in train_cfg)
    if ((cfg.get('randomness') or {}).get('deterministic') and epoch_based
            and loader.get('num_workers', 0) > 0 and loader.get('persistent_workers')):
        print_log('randomness.deterministic: train_dataloader.persistent_workers set to '
                  'False, so that a resumed run draws the same augmentations',
                  logger='current', level=logging.WARNING)
        loader.persistent_workers = False


def _previous_checkpoint(path: str) -> Optional[str]:
    """The newest complete checkpoint beside ``path``, other than ``path``."""
    folder = osp.dirname(path) or '.'
    others = [osp.join(folder, name) for name in os.listdir(folder)
              if name.endswith('.pth') and name != osp.basename(path)]
    others = [p for p in others if checkpoint_damage(p) is None]
    return max(others, key=osp.getmtime) if others else None


def _check_resume_checkpoint(path: str, named_in: Optional[str] = None) -> None:
    """One line saying what to do when the checkpoint to resume from is missing, empty
    or truncated (a run killed while saving with mmengine's own CheckpointHook, a copy
    cut short), instead of a traceback from deep in torch.load."""
    reason = checkpoint_damage(path)
    if reason is None:
        return
    previous = _previous_checkpoint(path) if osp.isdir(osp.dirname(path) or '.') else None
    instead = f'resume from the previous one (--resume {previous}) or ' if previous else ''
    if named_in:
        raise ConfigError(f'cannot resume from checkpoint {path} (named in {named_in}): '
                          f'{reason}; {instead}delete it and {named_in} to start afresh')
    raise ConfigError(f'cannot resume from checkpoint {path}: {reason}; {instead}delete it '
                      'and start afresh')


def prepare_train_config(cfg: Config,
                         config_path: str,
                         work_dir: Optional[str] = None,
                         resume: Optional[str] = None,
                         amp: bool = False,
                         auto_scale_lr: bool = False,
                         launcher: str = 'none',
                         backbone_weights: Optional[str] = None,
                         backbone_prefix: Optional[str] = None) -> Config:
    """Apply the train tool's flags to ``cfg`` (mmdet's/mmseg's semantics).

    ``resume``: ``'auto'`` resumes from the latest checkpoint in the work dir, a path
    resumes from that checkpoint, ``None`` starts afresh. Every run gets the hooks that
    make it resumable exactly (:func:`_make_resumable`).
    """
    cfg.launcher = launcher
    _set_work_dir(cfg, config_path, work_dir)
    if amp and cfg.optim_wrapper.get('type', 'OptimWrapper') != 'AmpOptimWrapper':
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise ConfigError('--auto-scale-lr needs `auto_scale_lr = dict(enable=..., '
                              'base_batch_size=...)` in the config')
        cfg.auto_scale_lr.enable = True
    if resume == 'auto':
        cfg.resume, cfg.load_from = True, None
        last = osp.join(cfg.work_dir, 'last_checkpoint')
        if osp.isfile(last):  # mmengine's find_latest_checkpoint reads the same file
            with open(last, encoding='utf-8') as f:
                _check_resume_checkpoint(f.read().strip(), named_in=last)
    elif resume is not None:
        if not osp.isfile(resume):
            raise ConfigError(f'--resume checkpoint {resume!r} does not exist')
        _check_resume_checkpoint(resume)
        cfg.resume, cfg.load_from = True, resume
    if backbone_weights is not None:
        _use_backbone_weights(cfg, backbone_weights, backbone_prefix)
    _make_resumable(cfg)
    _check_train_checkpoints(cfg)
    _adapt_to_cpu(cfg)
    return cfg


def _use_backbone_weights(cfg: Config, path: str, prefix: Optional[str] = None) -> str:
    """Initialise the backbone from the checkpoint ``path``: a classifier (mmpretrain
    ``ImageClassifier``), a bare backbone state dict or a whole model. The backbone's
    weights are found in it (key prefix and layout, :mod:`trtvit_dense.models.pretrained`)
    and must all be there; they are written to ``<work_dir>/pretrained/`` and
    ``model.backbone.init_cfg`` loads that file. Returns its path."""
    from ..models.pretrained import match_backbone_weights, save_backbone_weights
    if path == 'imagenet':  # the published ImageNet weights of the config's backbone
        from ..models.imagenet import imagenet_weights
        from ..models.zoo import backbone_name
        name = backbone_name(cfg.model.backbone)
        if name is None:
            raise ConfigError(f'--backbone-weights imagenet: {describe_model(cfg)} has no '
                              'known ImageNet weights; give a checkpoint path')
        path = str(imagenet_weights(name))
    if not osp.isfile(path):
        raise ConfigError(f'--backbone-weights file {path!r} does not exist')
    target = model_weight_shapes(cfg, 'backbone')
    try:
        found = match_backbone_weights(state_dict_of(read_checkpoint(path)), target, path,
                                       f'the backbone of {describe_model(cfg)}', prefix)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    name = osp.splitext(osp.basename(path))[0]
    converted = osp.join(cfg.work_dir, 'pretrained', f'{name}_backbone.pth')
    save_backbone_weights(found, converted, source=osp.abspath(path))
    print_log(f'backbone weights: {len(found.state_dict)} of {path} (key prefix '
              f'{found.prefix!r}, layout {found.layout!r}; {found.unused} other keys '
              f'unused) -> {converted}', logger='current')
    cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=converted)
    return converted


def _check_train_checkpoints(cfg: Config) -> None:
    """Refuse, before training starts, a checkpoint the run would load that is damaged
    or not this model's: the one resumed (every weight must fit), ``load_from`` and
    pretrained backbone weights (at least some weights must fit; mmengine logs the
    rest, as when fine-tuning to other classes)."""
    from mmengine.runner import find_latest_checkpoint
    if cfg.get('resume'):
        path = cfg.get('load_from') or find_latest_checkpoint(cfg.work_dir)
        if path:
            check_weights(model_weight_shapes(cfg), state_dict_of(read_checkpoint(path)),
                          path, describe_model(cfg), hint='resume a training of this config')
    elif cfg.get('load_from'):
        check_weights(model_weight_shapes(cfg),
                      state_dict_of(read_checkpoint(cfg.load_from)), cfg.load_from,
                      describe_model(cfg), strict=False)
    init = cfg.model.backbone.get('init_cfg') or {}
    if init.get('type') == 'Pretrained' and osp.isfile(str(init.get('checkpoint'))):
        prefix = init.get('prefix')
        weights = state_dict_of(read_checkpoint(init.checkpoint))
        if prefix:
            prefix = prefix if prefix.endswith('.') else prefix + '.'
            weights = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
        check_weights(model_weight_shapes(cfg, 'backbone'), weights, init.checkpoint,
                      f'the backbone of {describe_model(cfg)}',
                      strict=False, hint='pass weights of this backbone (and --backbone-'
                      "prefix, e.g. 'backbone.', for a whole-model checkpoint)")


def prepare_test_config(cfg: Config,
                        config_path: str,
                        checkpoint: str,
                        work_dir: Optional[str] = None,
                        show_dir: Optional[str] = None,
                        out: Optional[str] = None,
                        launcher: str = 'none') -> Config:
    """Apply the test tool's flags to ``cfg``."""
    if not osp.isfile(checkpoint):
        raise ConfigError(f'checkpoint {checkpoint!r} does not exist')
    cfg.launcher = launcher
    _set_work_dir(cfg, config_path, work_dir)
    cfg.load_from = checkpoint
    task = task_of(cfg)
    if show_dir:
        hooks = cfg.default_hooks
        if 'visualization' not in hooks:
            raise ConfigError('--show-dir needs default_hooks.visualization in the config')
        hooks.visualization.draw = True
        if task.predictions == 'pkl':  # mmdet's hook writes where it is told
            hooks.visualization.test_out_dir = show_dir
        else:  # mmseg's hook draws into the visualizer's save_dir
            cfg.visualizer.save_dir = show_dir
    if out is not None and task.predictions == 'label_png':
        # mmseg writes one label PNG per image into output_dir.
        cfg.test_evaluator.output_dir = out
        cfg.test_evaluator.keep_results = True
    elif out is not None and not out.endswith(('.pkl', '.pickle')):
        raise ConfigError(f'--out {out!r}: {task.name} predictions are dumped to a .pkl file')
    _adapt_to_cpu(cfg)
    return cfg


def build_runner(cfg: Config, splits=('train', 'val', 'test'), check: bool = True) -> Runner:
    """Check the config against its model and the data of ``splits``, then build."""
    if check:
        check_config(cfg, splits)
    _init_cpu_process_group(cfg)
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def train(cfg: Config) -> Runner:
    """Train (and validate) as configured; returns the finished runner."""
    runner = build_runner(cfg, splits=('train', 'val'))
    runner.train()
    return runner


def deployed_model_config(cfg: Config, model_file: str, backend: str, device: str = 'cpu',
                          backend_args: Optional[Dict] = None) -> Config:
    """``cfg`` with its model replaced by the deployed ``model_file`` (an ONNX file for
    onnxruntime, an engine for tensorrt) run on ``device`` by
    :class:`trtvit_dense.deploy.model.DeployedModel`."""
    from ..deploy.model import DeployedModel  # noqa: F401  (registers it)
    if backend not in BACKENDS:
        raise ConfigError(f'--backend must be {", ".join(BACKENDS)}, got {backend!r}')
    if device not in DEVICES:
        raise ConfigError(f'--device must be {" or ".join(DEVICES)}, got {device!r}')
    suffixes = BACKENDS[backend].suffixes
    if not model_file.endswith(suffixes):
        raise ConfigError(f'--backend {backend} runs {"/".join(suffixes)} files, '
                          f'got {model_file!r}')
    cfg = cfg.copy()
    original = cfg.model.to_dict()
    cfg.model = dict(type='DeployedModel', model_file=model_file, backend=backend,
                     device=device, model_cfg=original, backend_args=backend_args or {},
                     task=task_of(cfg).name,
                     data_preprocessor=original.get('data_preprocessor'))
    cfg.load_from = None
    return cfg


def test(cfg: Config, out: Optional[str] = None, backend: str = 'pytorch',
         device: str = 'cpu', backend_args: Optional[Dict] = None) -> Dict:
    """Evaluate ``cfg.load_from`` on the test split; returns the metrics.

    With ``backend`` 'onnxruntime' or 'tensorrt', ``cfg.load_from`` is the deployed
    model file, run on ``device``, and the same evaluators score its predictions."""
    if backend != 'pytorch':
        check_config(cfg, ('test', ))
        cfg = deployed_model_config(cfg, cfg.load_from, backend, device, backend_args)
    else:
        check_weights(model_weight_shapes(cfg), state_dict_of(read_checkpoint(cfg.load_from)),
                      cfg.load_from, describe_model(cfg))
    with ExitStack() as outputs:  # --out appears complete, or not at all
        task = task_of(cfg)
        if out is not None and task.predictions == 'label_png':  # one label PNG per image
            cfg.test_evaluator.output_dir = str(outputs.enter_context(atomic_dir(out)))
        runner = build_runner(cfg, splits=('test', ), check=backend == 'pytorch')
        if out is not None and task.predictions == 'pkl':
            tmp = outputs.enter_context(atomic_path(out, suffix='.tmp.pkl'))
            runner.test_evaluator.metrics.append(task.dump_results(str(tmp)))
        metrics = runner.test()
    if not metrics:
        # mmdet's CocoMetric logs an error and returns nothing when no image has a
        # prediction; say what that means instead of ending silently.
        runner.logger.warning('the evaluator returned no metrics: the model made no '
                              'prediction above the score threshold on any test image '
                              '(an untrained model?); lower model.test_cfg score_thr '
                              'to evaluate it anyway')
    return metrics


def benchmark_training(cfg: Config) -> Dict:
    """Train as configured, then evaluate on the test split; time the training.

    Returns ``train_s`` (wall seconds of ``runner.train()``, validation included),
    ``iters``, ``iters_per_s`` and the test ``metrics`` of the final weights.
    """
    start = time.perf_counter()
    runner = train(cfg)
    train_s = time.perf_counter() - start
    metrics = runner.test()
    return dict(train_s=train_s, iters=runner.iter, iters_per_s=runner.iter / train_s,
                metrics=metrics)
