"""Load mmengine checkpoints under torch's ``weights_only`` unpickler, safely.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``: its unpickler only
builds tensors, containers and an allow-list of globals. mmengine 0.10.7 checkpoints
also hold the message hub (``HistoryBuffer`` objects with numpy arrays inside) and numpy
scalars in ``meta``, so ``resume`` and ``load_from`` fail with "Weights only load failed".

The fix is *not* ``weights_only=False``: we add to torch's allow-list exactly what
mmengine writes:

* ``HistoryBuffer``, numpy arrays, numpy scalars and the numeric numpy dtypes; none of
  them runs code when built;
* pickle protocol 2 (``torch.save``'s) writes empty bytes (the data of an empty numpy
  array, so also of a fresh ``HistoryBuffer``) as a call of ``builtins.bytes()``;
  allowing the real ``bytes`` would let a pickle allocate ``bytes(10**12)``, so that
  name is bound to :func:`_empty_bytes`, which builds ``b''`` and nothing else;
* ``HistoryBuffer.__getstate__`` stores its statistics functions (``HistoryBuffer.min``,
  ...), which pickle protocol 2 writes as ``getattr(HistoryBuffer, 'min')``. Allowing
  the real ``builtins.getattr`` would let a pickle fetch any attribute of any allowed
  object, so that name is bound to :func:`_history_buffer_method`, which only returns
  those four functions and refuses anything else.

A checkpoint whose pickle names any other global (``os.system``, ``builtins.eval``, ...)
is still refused by torch.
"""
import os.path as osp
import pickle
import zipfile
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

__all__ = ['mmengine_safe_globals', 'install_safe_globals', 'refused_checkpoint_message',
           'CheckpointError', 'CheckpointMismatch', 'read_checkpoint', 'state_dict_of',
           'check_weights']

# Numeric dtypes only: object dtypes would let a pickle ask for arbitrary elements.
_NUMPY_DTYPE_CLASSES = (
    'BoolDType', 'Int8DType', 'Int16DType', 'Int32DType', 'Int64DType', 'UInt8DType',
    'UInt16DType', 'UInt32DType', 'UInt64DType', 'Float16DType', 'Float32DType',
    'Float64DType', 'LongDType', 'ULongDType', 'LongLongDType', 'ULongLongDType',
    'ShortDType', 'UShortDType', 'ByteDType', 'UByteDType', 'IntDType', 'UIntDType')
# The statistics HistoryBuffer registers on itself (mmengine/logging/history_buffer.py).
_HISTORY_BUFFER_METHODS = ('min', 'max', 'current', 'mean')


def _empty_bytes(*args):
    """Stand-in for ``bytes`` while unpickling: ``bytes()`` only (protocol 2's empty
    bytes); ``bytes(n)`` would allocate n bytes, ``bytes(x)`` copy anything."""
    if args:
        shown = ', '.join(repr(a)[:40] for a in args)
        raise pickle.UnpicklingError(
            f'Weights only load failed: refusing bytes({shown}); only the empty bytes '
            "b'' may be built while loading")
    return b''


def _history_buffer_method(obj, name):
    """Stand-in for ``getattr`` while unpickling: HistoryBuffer statistics only."""
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_METHODS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'Weights only load failed: refusing getattr({obj!r}, {name!r}); only '
        f'HistoryBuffer.{{{", ".join(_HISTORY_BUFFER_METHODS)}}} may be loaded')


def mmengine_safe_globals() -> List[object]:
    """The globals that mmengine 0.10.x checkpoints reference, beyond torch's own."""
    multiarray = np._core.multiarray  # numpy >= 2
    dtype_classes = [getattr(np.dtypes, name) for name in _NUMPY_DTYPE_CLASSES
                     if hasattr(np.dtypes, name)]
    return [
        HistoryBuffer,
        (_history_buffer_method, 'builtins.getattr'),
        (_empty_bytes, 'builtins.bytes'),
        np.ndarray,
        np.dtype,
        multiarray._reconstruct,  # ndarray.__reduce__
        multiarray.scalar,  # numpy scalar __reduce__ (np.float64(0.5), ...)
        *dtype_classes,
    ]


def install_safe_globals() -> None:
    """Add mmengine's checkpoint types to torch's ``weights_only`` allow-list.

    Idempotent; called when ``trtvit_dense`` is imported.
    """
    torch.serialization.add_safe_globals(mmengine_safe_globals())


def _unreadable(what: str, reason: str) -> str:
    return (f'{what} is not a readable PyTorch checkpoint ({reason}); it is damaged or '
            'not a checkpoint: use another one, e.g. an earlier epoch_N.pth / iter_N.pth')


def refused_checkpoint_message(error: BaseException, path: str | None = None) -> str:
    """One line for an ``UnpicklingError`` from loading checkpoint ``path``: for a pickle
    torch's ``weights_only`` unpickler refused, which global it wanted and what to do;
    for a damaged or foreign file, that it is not a readable checkpoint."""
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    what = f'checkpoint {path}' if path else 'a checkpoint'
    # torch names a refused global on a line of its own ("Unsupported global: GLOBAL x.y"
    # or "Trying to load unsupported GLOBAL x.y whose module x is blocked.")
    detail = next((ln.rstrip('.') for ln in lines
                   if 'unsupported global' in ln.lower() or 'refusing' in ln), None)
    if detail is None:  # damaged or not a pickle: say what the unpickler tripped on
        after = [b for a, b in zip(lines, lines[1:]) if a.endswith('WeightsUnpickler error:')]
        reason = (after or lines or [type(error).__name__])[0]
        return _unreadable(what, reason)
    return (f'{what} was refused by the safe (weights_only) loader: {detail}. It is not '
            'a plain weights file and could run code when loaded; load only checkpoints '
            'you trust, as written by mmengine/torch.save of tensors')


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: missing, damaged, refused, or not this model's."""


class CheckpointMismatch(CheckpointError):
    """A readable checkpoint whose weights do not fit the model."""


def read_checkpoint(path: str) -> dict:
    """``torch.load`` of ``path`` on the CPU under the safe (``weights_only``) loader (a
    ``.safetensors`` file: safetensors' loader), every failure turned into one
    :class:`CheckpointError` line naming the file."""
    path = str(path)
    if path.endswith('.safetensors'):  # timm's and Hugging Face's weights: tensors only
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        try:
            return dict(load_file(path, device='cpu'))
        except (SafetensorError, OSError) as e:
            raise CheckpointError(_unreadable(f'checkpoint {path}', str(e))) from None
    damage = checkpoint_damage(path)
    if damage is not None:
        raise CheckpointError(f'checkpoint {path} cannot be read: {damage}; use another '
                              'one, e.g. an earlier epoch_N.pth / iter_N.pth')
    try:
        checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(refused_checkpoint_message(e, path)) from None
    except Exception as e:  # noqa: BLE001 - zip reader, EOF, OS errors of damaged files
        reason = (str(e).strip().splitlines() or [''])[0] or type(e).__name__
        raise CheckpointError(_unreadable(f'checkpoint {path}', reason)) from None
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(f'checkpoint {path} holds a {type(checkpoint).__name__}, '
                              'not a dict of weights')
    return checkpoint


def state_dict_of(checkpoint: Mapping) -> Dict[str, torch.Tensor]:
    """The weights of an mmengine checkpoint (``state_dict``) or of a bare state dict,
    without the ``module.`` prefix of (Distributed)DataParallel, as mmengine strips it."""
    weights = checkpoint.get('state_dict', checkpoint)
    return {(k[len('module.'):] if k.startswith('module.') else k): v
            for k, v in weights.items() if isinstance(v, torch.Tensor)}


def _examples(items: Sequence[str], limit: int = 3) -> str:
    more = f', ... {len(items) - limit} more' if len(items) > limit else ''
    return ', '.join(items[:limit]) + more


def check_weights(expected: Mapping[str, Sequence[int]], weights: Mapping[str, torch.Tensor],
                  path: str, model: str, strict: bool = True,
                  hint: Optional[str] = None) -> None:
    """Raise :class:`CheckpointMismatch` when ``weights`` do not fit a model whose state
    dict has the shapes ``expected``.

    ``strict``: every weight must be present with its shape and nothing else (testing,
    deploying, resuming). Otherwise (``load_from`` fine-tuning, pretrained backbones)
    only a checkpoint that fits *none* of the model's weights is refused: mmengine loads
    the rest and logs what it skipped, as mmdet/mmseg users expect when, e.g., the
    number of classes changes.
    """
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    shapes = [f'{k} {list(weights[k].shape)} vs {list(expected[k])}' for k in expected
              if k in weights and tuple(weights[k].shape) != tuple(expected[k])]
    # BatchNorm's scalar step counters fit any BN model: they do not make a match
    fitting = len([k for k in expected if k in weights and not k.endswith(
        'num_batches_tracked') and tuple(weights[k].shape) == tuple(expected[k])])
    if strict and not (missing or unexpected or shapes):
        return
    if not strict and fitting > 0:
        return
    parts = []
    if not strict and fitting == 0:
        parts.append(f'none of its {len(weights)} weights fits the {len(expected)} of '
                     'the model')
    if missing:
        parts.append(f'{len(missing)} model weights are missing ({_examples(missing)})')
    if unexpected:
        parts.append(f'{len(unexpected)} are not in the model ({_examples(unexpected)})')
    if shapes:
        parts.append(f'{len(shapes)} have other shapes, checkpoint vs model '
                     f'({_examples(shapes, 2)})')
    raise CheckpointMismatch(
        f'checkpoint {path} does not match {model}: ' + '; '.join(parts) + '; '
        + (hint or 'pass the checkpoint trained with this config'))


def checkpoint_damage(path: str) -> Optional[str]:
    """Why ``path`` cannot be a complete checkpoint (missing, empty, a zip archive cut
    short), or None. Cheap: only a zip file's central directory at its end is read,
    which is what a truncated ``torch.save`` file lacks. Files in torch's legacy
    (non-zip) format are left to ``torch.load`` to judge."""
    if not osp.isfile(path):
        return 'it does not exist'
    if osp.getsize(path) == 0:
        return 'it is empty'
    with open(path, 'rb') as f:
        if f.read(4) != b'PK\x03\x04':
            return None
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as e:
        return f'it is truncated or damaged ({e})'
    if not any(name.endswith('data.pkl') for name in names):
        return 'it is a zip archive without the data.pkl of a PyTorch checkpoint'
    return None
