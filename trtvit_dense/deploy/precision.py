"""Precisions: the one list of them and the graph file each is deployed as.

A precision is decided when the ONNX graph is made (the TensorRT module docstring says
why): ``fp32`` is the export itself, ``fp16`` its float16 conversion
(:mod:`.quantize.fp16`), ``int8`` its QDQ quantization (:mod:`.quantize.int8`).
"""
from __future__ import annotations

__all__ = ['PRECISIONS', 'GRAPH_FILES', 'graph_file', 'graph_kind', 'check_precision',
           'precision_label']

PRECISIONS = ('fp32', 'fp16', 'int8')
# the graph each precision is built from, inside a deploy folder
GRAPH_FILES = {'fp32': 'end2end.onnx', 'fp16': 'end2end_fp16.onnx',
               'int8': 'end2end_int8.onnx'}


def check_precision(precision: str, flag: str = 'precision') -> str:
    """``precision`` if it is one of :data:`PRECISIONS`, else ValueError naming them."""
    if precision not in PRECISIONS:
        raise ValueError(f'{flag} must be one of {", ".join(PRECISIONS)}, got {precision!r}')
    return precision


def graph_file(precision: str) -> str:
    """The file name of the ``precision`` graph in a deploy folder."""
    return GRAPH_FILES[check_precision(precision)]


def graph_kind(precision: str) -> str:
    """The manifest's ``files`` key of the ``precision`` graph: 'onnx', 'onnx_fp16', ..."""
    return 'onnx' if check_precision(precision) == 'fp32' else f'onnx_{precision}'


def precision_label(precision: str, quantizer: str | None = None) -> str:
    """How reports name a precision: ``'int8 (modelopt)'`` for an int8 graph with its
    quantizer (``deploy.quantize.quantizers``), the precision alone otherwise."""
    return f'{precision} ({quantizer})' if quantizer else precision
