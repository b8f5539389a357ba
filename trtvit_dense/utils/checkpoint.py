"""Load mmengine checkpoints under torch's ``weights_only`` unpickler, safely.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``: its unpickler only
builds tensors, containers and an allow-list of globals. mmengine 0.10.7 checkpoints
also hold the message hub (``HistoryBuffer`` objects with numpy arrays inside) and numpy
scalars in ``meta``, so ``resume`` and ``load_from`` fail with "Weights only load failed".

The fix is *not* ``weights_only=False``: we add to torch's allow-list exactly what
mmengine writes:

* ``HistoryBuffer``, numpy arrays, numpy scalars and the numeric numpy dtypes; none of
  them runs code when built;
* ``HistoryBuffer.__getstate__`` stores its statistics functions (``HistoryBuffer.min``,
  ...), which pickle protocol 2 writes as ``getattr(HistoryBuffer, 'min')``. Allowing
  the real ``builtins.getattr`` would let a pickle fetch any attribute of any allowed
  object, so that name is bound to :func:`_history_buffer_method`, which only returns
  those four functions and refuses anything else.

A checkpoint whose pickle names any other global (``os.system``, ``builtins.eval``, ...)
is still refused by torch.
"""
import pickle
from typing import List

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

__all__ = ['mmengine_safe_globals', 'install_safe_globals', 'refused_checkpoint_message']

# Numeric dtypes only: object dtypes would let a pickle ask for arbitrary elements.
_NUMPY_DTYPE_CLASSES = (
    'BoolDType', 'Int8DType', 'Int16DType', 'Int32DType', 'Int64DType', 'UInt8DType',
    'UInt16DType', 'UInt32DType', 'UInt64DType', 'Float16DType', 'Float32DType',
    'Float64DType', 'LongDType', 'ULongDType', 'LongLongDType', 'ULongLongDType',
    'ShortDType', 'UShortDType', 'ByteDType', 'UByteDType', 'IntDType', 'UIntDType')
# The statistics HistoryBuffer registers on itself (mmengine/logging/history_buffer.py).
_HISTORY_BUFFER_METHODS = ('min', 'max', 'current', 'mean')


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
        return f'{what} is not a readable PyTorch checkpoint ({reason})'
    return (f'{what} was refused by the safe (weights_only) loader: {detail}. It is not '
            'a plain weights file and could run code when loaded; load only checkpoints '
            'you trust, as written by mmengine/torch.save of tensors')
