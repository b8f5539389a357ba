"""Inference on image files with any backend: painted predictions and a JSON file.

One code path for a PyTorch checkpoint, an ONNX file (ONNX Runtime) and a TensorRT
engine: the model is an mmengine model (the config's model with its checkpoint, or
:class:`~trtvit_dense.deploy.model.DeployedModel`), each image goes through the
config's test pipeline without its annotation loaders and ``model.test_step``, and the
mmdet/mmseg visualisers paint the resulting data sample on the original image.

``tools/infer.py`` only parses arguments and calls :func:`run_inference`.
"""
from __future__ import annotations

import glob
import importlib
import itertools
import json
import os
import os.path as osp
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from mmengine.registry import DefaultScope
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from ..config import ConfigError, load_config, split_dataset_config, split_transforms, task_of
from ..datasets.images import IMAGE_EXTS, is_image_file
from ..deploy.backends import BACKENDS, DEVICES, BackendUnavailable, backend_of, check_backend
from ..deploy.config import ShapeError
from ..tasks import get_task
from ..utils.atomic import atomic_write_bytes
from .runner import deployed_model_config

__all__ = ['InputError', 'ImageReadError', 'ImageSizeError',
           'collect_images', 'dataset_metainfo',
           'build_inference_model', 'Prediction', 'Predictor', 'predictions_to_dict',
           'build_visualizer', 'draw_prediction', 'default_out_dir', 'run_inference']

PREDICTIONS_FILE = 'predictions.json'


class InputError(ValueError):
    """An image argument that names no image at all (an empty folder, a glob pattern
    matching nothing)."""


class ImageReadError(RuntimeError):
    """One image file that cannot be read (missing, empty, not an image)."""

    def __init__(self, path: str, reason: str):
        super().__init__(f'{path}: {reason}')
        self.path = path
        self.reason = reason


class ImageSizeError(ImageReadError):
    """One image the test pipeline resizes to a shape the deployed model's profile does
    not cover (an extreme aspect ratio, a pipeline without Resize)."""


# -- inputs ---------------------------------------------------------------------------

def _is_image_name(path: str) -> bool:
    return is_image_file(path)


def collect_images(inputs: Iterable[str]) -> tuple[list[str], list[dict]]:
    """Expand image arguments into ``(paths, failures)``.

    Each input is an image file (taken whatever its extension), a folder (the image
    files directly inside it, sorted) or a glob pattern (``**`` recurses; the image
    files it matches, sorted). A folder holding no images or a pattern matching none
    raises :class:`InputError` naming it; a path that does not exist is returned in
    ``failures`` as ``{'image': path, 'error': reason}``. Duplicates (the same file
    reached twice) are dropped, the first occurrence keeps its place.
    """
    paths, failures, seen = [], [], set()

    def add(path: str) -> None:
        key = osp.realpath(path)
        if key not in seen:
            seen.add(key)
            paths.append(path)

    for item in inputs:
        item = str(item)
        if osp.isdir(item):
            found = sorted(osp.join(item, name) for name in os.listdir(item)
                           if _is_image_name(name) and osp.isfile(osp.join(item, name)))
            if not found:
                raise InputError(f'folder {item!r} holds no images '
                                 f'({"/".join(e[1:] for e in IMAGE_EXTS)})')
            for path in found:
                add(path)
        elif osp.lexists(item):
            add(item)
        elif glob.has_magic(item):
            found = sorted(p for p in glob.glob(item, recursive=True)
                           if osp.isfile(p) and _is_image_name(p))
            if not found:
                raise InputError(f'pattern {item!r} matches no image files')
            for path in found:
                add(path)
        elif item not in (f['image'] for f in failures):
            failures.append(dict(image=item, error='no such file or directory'))
    return paths, failures


# -- config -> pipeline, class names, model ---------------------------------------------

def dataset_metainfo(cfg: Config, split: str = 'test') -> dict:
    """``classes`` and ``palette`` (and the rest of the metainfo) of the ``split``
    dataset, from its class and the config's ``metainfo``; no annotation is read."""
    from mmengine.registry import DATASETS
    init_default_scope(cfg.default_scope)
    # lazy: no annotation file is read; no pipeline: the transforms are not needed here
    dataset = DATASETS.build({**split_dataset_config(cfg, split), 'lazy_init': True,
                              'pipeline': []})
    meta = dict(dataset.metainfo)
    if not meta.get('classes'):
        raise ConfigError(f'the {split} dataset {type(dataset).__name__} names no classes; '
                          'set metainfo=dict(classes=...) in its config')
    return meta


def build_inference_model(cfg: Config, model_file: str, backend: str = 'pytorch',
                          device: str = 'cpu') -> torch.nn.Module:
    """The mmengine model that runs ``model_file``: the config's model with the
    checkpoint loaded strictly (``pytorch``), or a ``DeployedModel`` for an ONNX file
    (``onnxruntime``) or an engine (``tensorrt``). Bad pairs fail here, with the deploy
    pipeline's errors (``CheckpointError``, ``SignatureMismatch``,
    ``BackendUnavailable``)."""
    from ..deploy.pipeline import DeployError, load_model
    if backend not in BACKENDS:
        raise ConfigError(f'--backend must be one of {", ".join(BACKENDS)}, '
                          f'got {backend!r}')
    if device not in DEVICES:
        raise ConfigError(f'--device must be {" or ".join(DEVICES)}, got {device!r}')
    if not osp.isfile(model_file):
        raise ConfigError(f'model file {model_file!r} does not exist')
    if backend == 'pytorch':
        if backend_of(model_file) != 'pytorch':
            raise ConfigError(f'--backend pytorch runs a checkpoint (.pth); '
                              f'{model_file!r} is a deployed model: leave --backend out '
                              'or name its backend')
        if device == 'cuda' and not torch.cuda.is_available():
            raise BackendUnavailable('--device cuda: PyTorch sees no CUDA GPU on this '
                                     'machine; use --device cpu')
        return load_model(cfg, model_file).to(device)
    if backend == 'tensorrt':
        check_backend(backend, 'cuda')  # say TensorRT/GPU is missing before reading the file
    from google.protobuf.message import DecodeError
    try:
        return load_model(deployed_model_config(cfg, model_file, backend, device), None)
    except DecodeError as e:
        raise DeployError(f'{model_file} is not a readable ONNX file ({_first_line(e)})'
                          ) from e


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# -- prediction -----------------------------------------------------------------------

@dataclass
class Prediction:
    """A data sample with predictions in original-image pixels, and the original image
    as decoded (BGR, like ``LoadImageFromFile``)."""
    sample: object
    image: np.ndarray


def _read_error(path: str, error: Exception) -> ImageReadError:
    if not osp.lexists(path):
        reason = 'no such file or directory'
    elif osp.isdir(path):
        reason = 'is a folder, not an image file'
    elif osp.getsize(path) == 0:
        reason = 'empty file (0 bytes)'
    else:
        reason = f'not a readable image ({_first_line(error)})'
    return ImageReadError(path, reason)


class Predictor:
    """``predictor(path) -> data sample``: one image through the config's test pipeline
    (annotation loaders left out) and ``model.test_step``.

    ``config`` is a config path (``cfg_options`` applied) or a loaded ``Config``;
    ``model_file`` a checkpoint (``backend='pytorch'``), an ONNX file (``onnxruntime``)
    or an engine (``tensorrt``); ``backend`` defaults to the one its suffix names.
    """

    def __init__(self, config: str | Config, model_file: str, backend: str | None = None,
                 device: str = 'cpu', cfg_options: dict | None = None):
        self.cfg = (config if isinstance(config, Config)
                    else load_config(str(config), cfg_options))
        self.task = task_of(self.cfg).name
        self.model_file = str(model_file)
        self.backend = backend or backend_of(self.model_file)
        self.device = device
        self.transforms = split_transforms(self.cfg, 'test', annotations=False)
        self.dataset_meta = dataset_metainfo(self.cfg, 'test')
        self.model = build_inference_model(self.cfg, self.model_file, self.backend, device)

    @property
    def classes(self) -> tuple:
        return tuple(self.dataset_meta['classes'])

    @torch.no_grad()
    def infer(self, path: str, img_id: int = 0) -> Prediction:
        """Predict one image; :class:`ImageReadError` if the file cannot be read."""
        from mmengine.dataset import pseudo_collate
        init_default_scope(self.cfg.default_scope)
        path = str(path)
        try:
            results = self.transforms[0](dict(img_path=path, img_id=img_id))
        except Exception as e:  # mmcv raises whatever the decoder raised
            raise _read_error(path, e) from e
        if results is None or results.get('img') is None:
            raise _read_error(path, ValueError('the decoder returned nothing'))
        image = results['img']
        for transform in self.transforms[1:]:
            results = transform(results)
            if results is None:
                raise ValueError(f'{type(transform).__name__} dropped {path} (the test '
                                 'pipeline must keep every image)')
        try:
            sample = self.model.test_step(pseudo_collate([results]))[0]
        except ShapeError as e:  # outside a deployed model's profile: this image only
            raise ImageSizeError(path, str(e)) from None
        return Prediction(sample=sample.cpu(), image=image)

    def __call__(self, path: str, img_id: int = 0):
        return self.infer(path, img_id).sample


def _masks_array(masks) -> np.ndarray:
    if isinstance(masks, torch.Tensor):
        return masks.detach().cpu().numpy().astype(bool)
    if hasattr(masks, 'to_ndarray'):  # mmdet BitmapMasks/PolygonMasks
        return masks.to_ndarray().astype(bool)
    return np.asarray(masks, dtype=bool)


def _encode_rle(mask: np.ndarray) -> dict:
    import pycocotools.mask as mask_util
    rle = mask_util.encode(np.asfortranarray(mask[:, :, None], dtype=np.uint8))[0]
    return dict(size=[int(v) for v in rle['size']], counts=rle['counts'].decode('ascii'))


def label_map(sample) -> np.ndarray:
    """The predicted class index per pixel (``[H, W]`` int64) of a segmentation sample."""
    return sample.pred_sem_seg.data[0].detach().cpu().numpy().astype(np.int64)


def predictions_to_dict(sample, class_names: Sequence[str]) -> dict:
    """The predictions of a data sample as plain JSON types, in original-image pixels.

    Detection: ``height``, ``width`` and ``instances``, each ``{label, class, score,
    bbox: [x1, y1, x2, y2]}`` plus ``mask`` (COCO compressed RLE, ``{size, counts}``)
    when the model predicts masks; every prediction the model returned, best first.
    Segmentation: ``height``, ``width`` and ``classes_present``, each ``{label, class,
    fraction}`` (the fraction of the image's pixels predicted as that class).
    Classification: ``height``, ``width``, the predicted ``label``, ``class`` and
    ``score``, and ``top5``: the five (or fewer) best ``{label, class, score}``.
    """
    height, width = (int(v) for v in sample.metainfo['ori_shape'][:2])
    out = dict(height=height, width=width)

    def name(label: int) -> str:
        return str(class_names[label]) if 0 <= label < len(class_names) else str(label)

    if 'pred_score' in sample:
        scores = sample.pred_score.detach().cpu().numpy().astype(float)
        order = np.argsort(-scores, kind='stable')[:5]
        best = [dict(label=int(k), **{'class': name(int(k))}, score=float(scores[k]))
                for k in order]
        return dict(out, **best[0], top5=best)
    if 'pred_sem_seg' in sample:
        labels = label_map(sample)
        counts = np.bincount(labels.ravel(), minlength=len(class_names))
        out['classes_present'] = [
            dict(label=int(i), **{'class': name(int(i))}, fraction=float(c / labels.size))
            for i, c in enumerate(counts) if c]
        return out
    inst = sample.pred_instances
    scores = inst.scores.detach().cpu().numpy().astype(float)
    order = np.argsort(-scores, kind='stable')
    bboxes = inst.bboxes.detach().cpu().numpy().astype(float)
    bboxes = np.clip(bboxes, 0, [width, height, width, height])
    labels = inst.labels.detach().cpu().numpy().astype(int)
    masks = _masks_array(inst.masks) if 'masks' in inst else None
    instances = []
    for k in order:
        record = {'label': int(labels[k]), 'class': name(int(labels[k])),
                  'score': float(scores[k]), 'bbox': [float(v) for v in bboxes[k]]}
        if masks is not None:
            record['mask'] = _encode_rle(masks[k])
        instances.append(record)
    out['instances'] = instances
    return out


# -- drawing --------------------------------------------------------------------------

_VISUALIZER_IDS = itertools.count()


def _full_palette(palette, num_classes: int) -> list:
    """``palette`` completed to ``num_classes`` colours (fixed random ones where the
    dataset has none)."""
    palette = [tuple(int(v) for v in c) for c in (palette or [])]
    if len(palette) < num_classes:
        rng = np.random.RandomState(42)
        extra = rng.randint(0, 256, size=(num_classes - len(palette), 3))
        palette += [tuple(int(v) for v in c) for c in extra]
    return palette


def build_visualizer(task: str, dataset_meta: dict):
    """The task's visualiser (mmdet's ``DetLocalVisualizer``, mmseg's
    ``SegLocalVisualizer``: :attr:`trtvit_dense.tasks.Task.visualizer`) for the
    dataset's classes and palette. It gets a name of its own (mmengine keeps visualisers
    by name) and no storage backend: the caller writes the painted image."""
    name = f'trtvit_dense.infer.{os.getpid()}.{next(_VISUALIZER_IDS)}'
    classes = tuple(dataset_meta['classes'])
    meta = dict(classes=classes, palette=_full_palette(dataset_meta.get('palette'),
                                                       len(classes)))
    spec = get_task(task)
    registry = importlib.import_module(f'{spec.scope}.registry').VISUALIZERS
    # in the task's scope, whatever scope the process used last
    with DefaultScope.overwrite_default_scope(spec.scope):
        visualizer = registry.build(dict(spec.visualizer, name=name, vis_backends=[]))
    visualizer.dataset_meta = meta
    return visualizer


def draw_prediction(visualizer, prediction: Prediction,
                    score_thr: float = 0.3) -> np.ndarray:
    """The original image (RGB) with the prediction painted on it: boxes with class and
    score and instance masks above ``score_thr``, the semantic map overlaid, or the
    predicted class and score written on it."""
    image = prediction.image
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    rgb = np.ascontiguousarray(image[:, :, ::-1])
    if 'pred_score' in prediction.sample:  # mmpretrain's UniversalVisualizer returns it
        return visualizer.visualize_cls(rgb, prediction.sample, draw_gt=False)
    kwargs = (dict(pred_score_thr=score_thr) if 'pred_instances' in prediction.sample
              else dict(with_labels=True))
    visualizer.add_datasample('prediction', rgb, prediction.sample, draw_gt=False,
                              show=False, **kwargs)
    return visualizer.get_image()


# -- the tool ---------------------------------------------------------------------------

def default_out_dir(config: str) -> str:
    """``work_dirs/infer/<config name>``."""
    return osp.join('work_dirs', 'infer', osp.splitext(osp.basename(str(config)))[0])


def _write_png(path: Path, image: np.ndarray) -> None:
    import cv2
    ok, data = cv2.imencode('.png', image)
    if not ok:
        raise RuntimeError(f'could not encode {path} as PNG')
    atomic_write_bytes(path, data.tobytes())


def _unique_stem(path: str, used: set, suffixes: Sequence[str]) -> str:
    """The image's file stem, with ``_1``, ``_2``... appended when another image (from
    another folder) already took one of the output names it needs."""
    stem = Path(path).stem
    for n in itertools.count():
        candidate = stem if n == 0 else f'{stem}_{n}'
        names = {candidate + s for s in suffixes}
        if not names & used:
            used.update(names)
            return candidate


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_inference(config: str, model: str, inputs: Iterable[str],
                  out_dir: str | None = None, backend: str | None = None,
                  device: str = 'cpu', score_thr: float = 0.3,
                  cfg_options: dict | None = None,
                  report: Callable[[str], None] = _stderr) -> dict:
    """Predict every image of ``inputs`` (see :func:`collect_images`) and write
    ``<out_dir>/<stem>.png`` (painted), for segmentation ``<stem>_labels.png`` (class
    index per pixel) and ``<out_dir>/predictions.json``.

    An image that cannot be read is reported through ``report`` when met, skipped and
    listed under ``failed``; any other error (config, model file, backend) is raised at
    once. Returns the JSON document plus ``out_dir``, ``predictions_file`` and
    ``num_inputs`` (images found plus missing paths).
    """
    paths, failed = collect_images(inputs)
    num_inputs = len(paths) + len(failed)  # found images plus missing paths
    for failure in failed:
        report(f'cannot read {failure["image"]}: {failure["error"]}')
    predictor = Predictor(config, model, backend=backend, device=device,
                          cfg_options=cfg_options)
    out_dir = Path(out_dir or default_out_dir(config))
    out_dir.mkdir(parents=True, exist_ok=True)
    visualizer = build_visualizer(predictor.task, predictor.dataset_meta)
    classes = predictor.classes
    segmentation = get_task(predictor.task).predictions == 'label_png'  # label maps
    suffixes = ('.png', '_labels.png') if segmentation else ('.png', )
    used = {PREDICTIONS_FILE}
    images = []
    for i, path in enumerate(paths):
        try:
            prediction = predictor.infer(path, img_id=i)
        except ImageReadError as e:
            verb = 'cannot predict' if isinstance(e, ImageSizeError) else 'cannot read'
            report(f'{verb} {e.path}: {e.reason}')
            failed.append(dict(image=e.path, error=e.reason))
            continue
        stem = _unique_stem(path, used, suffixes)
        painted = out_dir / f'{stem}.png'
        _write_png(painted, draw_prediction(visualizer, prediction, score_thr)[:, :, ::-1])
        record = dict(image=path, output=str(painted),
                      **predictions_to_dict(prediction.sample, classes))
        if segmentation:
            labels_png = out_dir / f'{stem}_labels.png'
            dtype = np.uint8 if len(classes) <= 256 else np.uint16
            _write_png(labels_png, label_map(prediction.sample).astype(dtype))
            record = dict(record, label_map=str(labels_png))
        images.append(record)

    document = dict(config=str(config), model=str(model), backend=predictor.backend,
                    device=device, task=predictor.task, score_thr=float(score_thr),
                    classes=list(classes), images=images, failed=failed)
    json_path = atomic_write_bytes(out_dir / PREDICTIONS_FILE,
                                   (json.dumps(document) + '\n').encode())
    return dict(document, out_dir=str(out_dir), predictions_file=str(json_path),
                num_inputs=num_inputs)
