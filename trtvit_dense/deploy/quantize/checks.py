"""Checks that an ONNX graph holds the precision it is built as: TensorRT keeps the
types a graph has, so an engine's precision is decided when the graph is made."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..precision import check_precision

__all__ = ['check_onnx_precision']


def _float_weight_counts(graph) -> dict[str, int]:
    """Number of float weight elements by ONNX type name ('FLOAT', 'FLOAT16', ...), over
    initializers and Constant nodes, subgraphs (If/Loop bodies) included."""
    from onnx import AttributeProto, TensorProto
    floats = (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16,
              TensorProto.DOUBLE)
    counts: dict[str, int] = {}

    def add(tensor) -> None:
        if tensor.data_type in floats:
            key = TensorProto.DataType.Name(tensor.data_type)
            counts[key] = counts.get(key, 0) + int(np.prod(tensor.dims, dtype=np.int64))

    def walk(g) -> None:
        for t in g.initializer:
            add(t)
        for node in g.node:
            for attr in node.attribute:
                if attr.type == AttributeProto.TENSOR:
                    add(attr.t)
                elif attr.type == AttributeProto.GRAPH:
                    walk(attr.g)
                elif attr.type == AttributeProto.GRAPHS:
                    for sub in attr.graphs:
                        walk(sub)

    walk(graph)
    return counts


def check_onnx_precision(onnx_path: str | Path, precision: str) -> dict[str, int]:
    """Check that the ONNX graph's weights match ``precision``; return the counts.

    A TensorRT network keeps the types the ONNX graph has (always in TensorRT 11, and
    for our strongly typed fp16 builds in 10), so the precision of an engine is decided
    when the graph is made, not when it is built:

    * ``fp16`` needs a graph whose weights are mostly float16 (a mixed-precision graph
      may keep a few ops, e.g. normalisations, in float32);
    * ``fp32`` refuses a graph with any float16/bfloat16 weights, which would otherwise
      give an engine labelled fp32 that computes partly in half precision;
    * ``int8`` needs a QDQ graph in TensorRT's scheme (either quantizer with
      ``target='tensorrt'``, :mod:`.quantizers`): int8 Q/DQ pairs whose zero points are
      all 0, no INT32 DequantizeLinear (biases stay float), no bfloat16 weights. Its
      float part may be float32 (ONNX Runtime's quantizer) or float16 (ModelOpt's, as
      TensorRT runs it best). The counts returned then include ``INT8``.
    """
    import onnx
    check_precision(precision)
    # Only the tensor headers are needed: external weight files are not read.
    model = onnx.load(str(onnx_path), load_external_data=False)
    counts = _float_weight_counts(model.graph)
    n32 = counts.get('FLOAT', 0) + counts.get('DOUBLE', 0)
    n16 = counts.get('FLOAT16', 0)
    nbf16 = counts.get('BFLOAT16', 0)
    if precision == 'fp16' and (n16 == 0 or n16 < n32 + nbf16):
        raise ValueError(
            f"precision='fp16' builds the ONNX graph strongly typed, as it is (TensorRT 11 "
            f'has no FP16 builder flag), so the graph must already be fp16 (mostly float16 '
            f'weights); {onnx_path} has {n16} float16, {n32} float32 and {nbf16} bfloat16 '
            'weight elements. '
            'Convert it first (trtvit_dense.deploy.quantize.fp16.convert_to_fp16), or build it with '
            "precision='fp32'")
    if (precision == 'fp32' and n16 + nbf16) or (precision == 'int8' and nbf16):
        raise ValueError(
            f"precision={precision!r} but {onnx_path} has {n16} float16 and {nbf16} "
            'bfloat16 weight elements; TensorRT keeps those types, so the engine would '
            "compute partly in half precision. Build it with precision='fp16', or export "
            'an fp32 graph')
    if precision == 'int8':
        counts['INT8'] = _check_int8_qdq(model.graph, onnx_path)
    return counts


def _check_int8_qdq(graph, onnx_path: str | Path) -> int:
    """Number of stored int8 weight elements of a QDQ graph in TensorRT's scheme; raise
    ValueError naming what breaks it (TensorRT's parser would refuse it mid-build)."""
    from onnx import TensorProto, numpy_helper
    stored = {t.name: t for t in graph.initializer}
    qdq = [n for n in graph.node if n.op_type in ('QuantizeLinear', 'DequantizeLinear')]
    if not any(n.op_type == 'QuantizeLinear' for n in qdq):
        raise ValueError(
            f"precision='int8' builds the QDQ graph's explicit quantization, but "
            f'{onnx_path} has no QuantizeLinear nodes; quantize it first '
            "(tools/deploy.py --precision int8 --backend tensorrt)")
    problems = []
    int8_weights = 0
    for node in qdq:
        zero_point = stored.get(node.input[2]) if len(node.input) > 2 else None
        if node.op_type == 'QuantizeLinear' and zero_point is None:
            problems.append(f'{node.name}: no zero point (uint8 output)')
        elif zero_point is not None and zero_point.data_type != TensorProto.INT8:
            problems.append(f'{node.name}: '
                            f'{TensorProto.DataType.Name(zero_point.data_type)} zero point')
        elif zero_point is not None and numpy_helper.to_array(zero_point).any():
            problems.append(f'{node.name}: non-zero zero point')
        data = stored.get(node.input[0])
        if node.op_type == 'DequantizeLinear' and data is not None:
            if data.data_type != TensorProto.INT8:
                problems.append(f'{node.name}: dequantizes '
                                f'{TensorProto.DataType.Name(data.data_type)}')
            else:
                int8_weights += int(np.prod(data.dims, dtype=np.int64))
    if problems:
        raise ValueError(
            f'{onnx_path} is not quantized the way TensorRT builds Q/DQ graphs (int8, '
            f'symmetric: zero points 0; {len(problems)} nodes differ, e.g. '
            f"{'; '.join(problems[:3])}); the onnxruntime int8 graph uses uint8 "
            'activations: quantize for TensorRT (tools/deploy.py --precision int8 '
            '--backend tensorrt)')
    return int8_weights
