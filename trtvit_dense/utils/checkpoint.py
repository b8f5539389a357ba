"""Load mmengine checkpoints under torch's ``weights_only`` unpickler, safely.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``: its unpickler only
builds tensors, containers and an allow-list of globals. mmengine 0.10.7 checkpoints
also hold the message hub (``HistoryBuffer`` objects with numpy arrays inside) and numpy
scalars in ``meta``, so ``resume`` and ``load_from`` fail with "Weights only load failed".

The fix is *not* ``weights_only=False``: we add to torch's allow-list exactly the types
mmengine writes (``HistoryBuffer``, numpy arrays, numpy scalars and the numeric numpy
dtypes). None of them runs code when built, and a checkpoint whose pickle names any other
global (``os.system``, ``builtins.eval``, ...) is still refused by torch.
"""
from typing import List

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

__all__ = ['mmengine_safe_globals', 'install_safe_globals']

# Numeric dtypes only: object dtypes would let a pickle ask for arbitrary elements.
_NUMPY_DTYPE_CLASSES = (
    'BoolDType', 'Int8DType', 'Int16DType', 'Int32DType', 'Int64DType', 'UInt8DType',
    'UInt16DType', 'UInt32DType', 'UInt64DType', 'Float16DType', 'Float32DType',
    'Float64DType', 'LongDType', 'ULongDType', 'LongLongDType', 'ULongLongDType',
    'ShortDType', 'UShortDType', 'ByteDType', 'UByteDType', 'IntDType', 'UIntDType')


def mmengine_safe_globals() -> List[object]:
    """The globals that mmengine 0.10.x checkpoints reference, beyond torch's own."""
    multiarray = np._core.multiarray  # numpy >= 2
    dtype_classes = [getattr(np.dtypes, name) for name in _NUMPY_DTYPE_CLASSES
                     if hasattr(np.dtypes, name)]
    return [
        HistoryBuffer,
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
