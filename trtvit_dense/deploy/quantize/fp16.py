"""FP16 ONNX graphs for strongly typed TensorRT, and their accuracy against FP32.

TensorRT 11 dropped the FP16 builder flag: networks are strongly typed, so "fp16" means
an ONNX graph whose tensors are float16, built as it is. Running *every* op in fp16 is
the known cause of transformer accuracy loss (normalisation statistics, softmax
exp-sums and other reductions lose precision or overflow fp16's 65504), so
:func:`convert_to_fp16` keeps the op types in :data:`FP32_OPS` in float32 and converts
the rest with onnxruntime's maintained converter
(``onnxruntime.transformers.float16.convert_float_to_float16``).

What that converter does, from its source (onnxruntime 1.23), and what is added here:

* ``op_block_list`` *replaces* its default list (``None`` means the default list, ``[]``
  means block nothing); ``node_block_list`` blocks node names. A blocked node keeps its
  float32 initializers (unless an fp16 node shares them) and gets Cast nodes to float32
  in front of each fp16 input and back to fp16 behind each output.
* ``keep_io_types=True`` keeps float32 graph inputs/outputs behind Cast nodes.
* It appends every Cast at the end of the node list, so its output fails the checker
  ("Nodes in a graph must be topologically sorted"); the graph is re-sorted here.
* Two adjacent blocked nodes get a lossy fp32 -> fp16 -> fp32 round trip between them
  (which would re-introduce the very overflow that blocking a decomposed norm's ``Pow``
  is meant to avoid); such Cast pairs are folded here, and a node that only connects
  float32 nodes (the ``+ eps`` between ReduceMean and Sqrt) is kept float32 with them.
* Parameters the TorchScript exporter de-duplicated behind Identity nodes would be
  rounded to fp16 on their way to a float32 LayerNorm; the Identities are inlined.
* Casts for blocked nodes inside control-flow subgraphs land in the main graph, so
  graphs with If/Loop/Scan are refused.
* Ops whose ONNX schema has no float16 variant for a float input (``Range``;
  ``NonMaxSuppression`` takes only float32 boxes and scores) are always kept float32,
  whatever ``keep_fp32_ops`` says, because the graph would be invalid otherwise.

How accurate the converted graph is on a CPU, and what was measured leaving ops in fp16,
is in ``docs/quantization.md``; the harness is ``tools/analysis/fp16_reference.py``.
"""
from __future__ import annotations

import heapq
import os
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Sequence, Union

import onnx
from google.protobuf.message import DecodeError
from onnx import TensorProto

from ...utils.atomic import atomic_path
from ..onnx.graph import name_nodes, remove_unread

__all__ = ['FP32_OPS', 'convert_to_fp16', 'load_onnx', 'ops_requiring_fp32',
           'tensor_elem_types']

#: Op types kept in float32 by :func:`convert_to_fp16`.
FP32_OPS: tuple[str, ...] = (
    # Normalisations: mean/variance reduce over hundreds of channels and (x - mean)^2
    # overflows fp16 once |x - mean| > 256.
    'LayerNormalization', 'GroupNormalization', 'InstanceNormalization',
    # Softmax: exp-sums over rows of thousands of tokens lose the small probabilities.
    'Softmax', 'LogSoftmax',
    # Accumulating reductions (ReduceMax/ReduceMin are exact in fp16 and are not here).
    'ReduceMean', 'ReduceSum', 'ReduceSumSquare', 'ReduceL1', 'ReduceL2', 'ReduceProd',
    'ReduceLogSum', 'ReduceLogSumExp', 'CumSum',
    # Pieces of decomposed norms (opset < 17 LayerNorm, L2 normalisation): x^2 overflows
    # and sqrt/reciprocal of a tiny variance underflows; adjacent fp32 nodes stay fp32.
    'Pow', 'Sqrt', 'Reciprocal',
    # Box post-processing: NMS takes float32 only; RoiAlign samples at pixel coordinates
    # (fp16 spacing is 1 px above 1024) and TopK on rounded scores reorders near-ties.
    'NonMaxSuppression', 'RoiAlign', 'TopK',
)

PathLike = Union[str, os.PathLike]
# Ops that compute nothing from tensor values; they are counted apart in the stats.
_SHAPE_OPS = frozenset({'Shape', 'Size'})
_CONTROL_FLOW_OPS = frozenset({'If', 'Loop', 'Scan'})


def load_onnx(path: PathLike) -> onnx.ModelProto:
    """Load an ONNX model, with a clear error for a missing or non-ONNX file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'ONNX model {str(path)!r} does not exist')
    try:
        model = onnx.load(str(path))
    except (DecodeError, ValueError) as e:
        raise ValueError(f'{str(path)!r} is not an ONNX model: {e}') from e
    if not model.graph.node:
        raise ValueError(f'{str(path)!r} is not an ONNX model (its graph has no nodes)')
    return model


def tensor_elem_types(model: onnx.ModelProto) -> dict[str, int]:
    """Element type (``TensorProto.FLOAT``, ...) of every typed tensor, after inference."""
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {t.name: t.data_type for t in inferred.graph.initializer}
    for value in (*inferred.graph.input, *inferred.graph.output, *inferred.graph.value_info):
        if value.type.HasField('tensor_type'):
            types[value.name] = value.type.tensor_type.elem_type
    return types


def ops_requiring_fp32(model: onnx.ModelProto) -> set[str]:
    """Op types of ``model`` whose schema accepts float32 but not float16 for a
    tensor the node uses (``Range``, ``NonMaxSuppression`` boxes/scores, ...)."""
    opset = {imp.domain: imp.version for imp in model.opset_import}
    required = set()
    for node in model.graph.node:
        domain = '' if node.domain in ('', 'ai.onnx') else node.domain
        try:
            schema = onnx.defs.get_schema(node.op_type, opset.get(domain, 1), domain)
        except onnx.defs.SchemaError:
            continue  # custom op: its types are whatever the exporter wrote
        allowed = {c.type_param_str: set(c.allowed_type_strs)
                   for c in schema.type_constraints}
        for formals, names in ((schema.inputs, node.input), (schema.outputs, node.output)):
            for i, name in enumerate(names):
                if not name or not formals:
                    continue
                formal = formals[min(i, len(formals) - 1)]
                types = allowed.get(formal.type_str, {formal.type_str})
                if 'tensor(float)' in types and 'tensor(float16)' not in types:
                    required.add(node.op_type)
    return required


def convert_to_fp16(src: PathLike,
                    dst: PathLike,
                    keep_fp32_ops: Iterable[str] = FP32_OPS,
                    keep_io_types: bool = True,
                    keep_fp32_nodes: Iterable[str] = ()) -> dict[str, Any]:
    """Convert the float32 ONNX model ``src`` to float16, keeping some ops in float32.

    Args:
        src: float32 ONNX model.
        dst: output path; written to a temporary name in the same folder and renamed
            once it passes ``onnx.checker.check_model(full_check=True)``, so a failed
            conversion leaves no ``dst`` (an existing one is untouched).
        keep_fp32_ops: op types kept in float32 (default :data:`FP32_OPS`; ``()``
            converts everything the ONNX schemas allow). Ops without a float16 schema
            (see :func:`ops_requiring_fp32`) are kept in float32 regardless.
        keep_io_types: keep float32 graph inputs and outputs (Casts inside the graph).
        keep_fp32_nodes: node names kept in float32 as well, e.g. a box-decoding
            subgraph whose pixel coordinates need more than fp16's 11 bits.

    Returns:
        Stats: ``fp16_nodes`` / ``fp32_nodes`` (nodes computing in that dtype),
        ``cast_nodes``, ``other_nodes`` (integer/shape arithmetic), ``fp32_ops`` (op type
        -> count of float32 non-Cast nodes), ``kept_fp32_ops`` (the block list used),
        ``required_fp32_ops`` (ops kept float32 because they have no fp16 schema) and
        ``absorbed_fp32_nodes`` (nodes kept float32 because they only connect float32
        nodes, e.g. the ``+ eps`` between a decomposed norm's ReduceMean and Sqrt).

    Raises:
        FileNotFoundError: ``src`` does not exist.
        ValueError: ``src`` is not an ONNX model, has control flow, ``keep_fp32_nodes``
            names a node it does not have, or the converted graph fails the checker.
    """
    # Imported here: onnxruntime.transformers pulls in more than this module needs.
    from onnxruntime.transformers.float16 import convert_float_to_float16

    src, dst = Path(src), Path(dst)
    model = load_onnx(src)
    control_flow = sorted({n.op_type for n in model.graph.node} & _CONTROL_FLOW_OPS)
    if control_flow:
        raise ValueError(f'{str(src)!r} has control flow ({", ".join(control_flow)}); the '
                         f'fp16 converter would put casts for its subgraphs in the main '
                         f'graph, so it is not supported')
    block_nodes = set(keep_fp32_nodes)
    unknown = block_nodes - {n.name for n in model.graph.node}
    if unknown:
        raise ValueError(f'keep_fp32_nodes names nodes that {str(src)!r} does not have: '
                         f'{sorted(unknown)}')
    name_nodes(model.graph)
    _inline_initializer_identities(model.graph)
    required = ops_requiring_fp32(model)
    block_ops = sorted(set(keep_fp32_ops) | required)
    absorbed = _fp32_island_nodes(model, set(block_ops), block_nodes)
    model = convert_float_to_float16(
        model,
        keep_io_types=keep_io_types,
        op_block_list=block_ops,
        node_block_list=sorted(block_nodes | absorbed))
    # Sorted first: shape inference (used by the folding) types nodes in order.
    _topological_sort(model.graph)
    _fold_cast_round_trips(model)
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise ValueError(f'the fp16 conversion of {str(src)!r} is not a valid ONNX '
                         f'model: {e}') from e
    stats = _precision_stats(model)
    stats.update(kept_fp32_ops=block_ops, required_fp32_ops=sorted(required),
                 absorbed_fp32_nodes=len(absorbed))
    with atomic_path(dst) as tmp:
        onnx.save(model, str(tmp))
    return stats


def _inline_initializer_identities(graph: onnx.GraphProto) -> None:
    """Let readers of ``Identity(initializer)`` read the initializer itself.

    The TorchScript exporter de-duplicates equal parameters (e.g. every LayerNorm weight
    of an untrained model) through Identity nodes; the converter would turn the shared
    initializer into fp16 for the (fp16) Identity and cast it back for the fp32 node.
    """
    initializers = {t.name for t in graph.initializer}
    graph_outputs = {o.name for o in graph.output}
    alias = {n.output[0]: n.input[0] for n in graph.node
             if n.op_type == 'Identity' and n.input[0] in initializers
             and n.output[0] not in graph_outputs}
    if not alias:
        return
    kept = [n for n in graph.node if not (n.op_type == 'Identity' and n.output[0] in alias)]
    for node in kept:
        for i, name in enumerate(node.input):
            node.input[i] = alias.get(name, name)
    _replace_nodes(graph, kept)
    stale = [v for v in graph.value_info if v.name in alias]
    for value in stale:
        graph.value_info.remove(value)


def _fp32_island_nodes(model: onnx.ModelProto, block_ops: set[str],
                       block_nodes: set[str]) -> set[str]:
    """Names of the unblocked nodes that only connect float32 nodes.

    A node whose float inputs are all constants or outputs of blocked nodes, and
    whose float outputs are all read by blocked nodes, would only add an fp16 round
    trip (and an overflow: a variance above 65504 between ReduceMean and Sqrt), so it
    joins the float32 island; repeated until nothing changes.
    """
    graph = model.graph
    types = tensor_elem_types(model)
    initializers = {t.name for t in graph.initializer}
    graph_outputs = {o.name for o in graph.output}
    producer = {out: node for node in graph.node for out in node.output if out}
    readers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)

    def blocked(node: onnx.NodeProto) -> bool:
        return node.op_type in block_ops or node.name in block_nodes or node.name in absorbed

    def float_tensors(names: Iterable[str]) -> list[str]:
        return [n for n in names if n and types.get(n) == TensorProto.FLOAT]

    absorbed: set[str] = set()
    changed = True
    while changed:
        changed = False
        for node in graph.node:
            if blocked(node) or node.op_type in _SHAPE_OPS:
                continue
            inputs, outputs = float_tensors(node.input), float_tensors(node.output)
            if not outputs or graph_outputs.intersection(outputs):
                continue
            if not all(n in initializers or (n in producer and (
                    blocked(producer[n]) or producer[n].op_type == 'Constant'))
                       for n in inputs):
                continue
            if all(readers.get(n) and all(blocked(r) for r in readers[n]) for n in outputs):
                absorbed.add(node.name)
                changed = True
    return absorbed


def _is_cast_to(node: onnx.NodeProto, elem_type: int) -> bool:
    return node.op_type == 'Cast' and any(
        a.name == 'to' and a.i == elem_type for a in node.attribute)


def _fold_cast_round_trips(model: onnx.ModelProto) -> None:
    """Replace ``x(fp32) -> Cast(fp16) -> Cast(fp32) -> y`` by ``y = x``.

    The converter puts such a pair between two adjacent blocked nodes; it only loses
    precision (and can overflow). The fp16 Cast is removed when nothing else reads it.
    """
    graph = model.graph
    types = tensor_elem_types(model)
    producer = {out: node for node in graph.node for out in node.output}
    graph_outputs = {o.name for o in graph.output}
    rename: dict[str, str] = {}
    removed = []
    for node in graph.node:
        first = producer.get(node.input[0]) if node.input else None
        if (not _is_cast_to(node, TensorProto.FLOAT) or first is None
                or not _is_cast_to(first, TensorProto.FLOAT16)
                or types.get(first.input[0]) != TensorProto.FLOAT):
            continue
        if node.output[0] in graph_outputs:
            # A graph output must stay the output of a node.
            node.op_type = 'Identity'
            del node.attribute[:]
            node.input[0] = first.input[0]
        else:
            rename[node.output[0]] = first.input[0]
            removed.append(node)
    for node in removed:
        graph.node.remove(node)
    for node in graph.node:
        for i, name in enumerate(node.input):
            while name in rename:
                name = rename[name]
            node.input[i] = name
    remove_unread(graph, ['Cast'])  # fp16 Casts left without readers


def _topological_sort(graph: onnx.GraphProto) -> None:
    """Order ``graph.node`` so that every tensor is produced before it is read.

    Kahn's algorithm, always taking the earliest ready node of the original order, so an
    already sorted graph keeps its order and a Cast appended by the converter lands just
    before the first node that reads it.
    """
    nodes = list(graph.node)
    producer = {out: i for i, node in enumerate(nodes) for out in node.output if out}
    readers: dict[int, list[int]] = {i: [] for i in range(len(nodes))}
    waiting = []
    for i, node in enumerate(nodes):
        deps = {producer[name] for name in node.input if name in producer}
        waiting.append(len(deps))
        for dep in deps:
            readers[dep].append(i)
    ready = [i for i, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for reader in readers[i]:
            waiting[reader] -= 1
            if waiting[reader] == 0:
                heapq.heappush(ready, reader)
    if len(order) != len(nodes):
        raise ValueError('the converted graph has a cycle')
    _replace_nodes(graph, [nodes[i] for i in order])


def _replace_nodes(graph: onnx.GraphProto, nodes: Sequence[onnx.NodeProto]) -> None:
    """Set ``graph.node`` to (copies of) ``nodes``, which may be its own elements."""
    copies = [onnx.NodeProto() for _ in nodes]
    for copy, node in zip(copies, nodes):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)


def _precision_stats(model: onnx.ModelProto) -> dict[str, Any]:
    """Count nodes by the float dtype they compute in (first float output, else first
    float input; Shape/Size and integer-only nodes are ``other_nodes``)."""
    types = tensor_elem_types(model)
    floats = (TensorProto.FLOAT, TensorProto.FLOAT16)
    counts: Counter = Counter()
    fp32_ops: Counter = Counter()
    for node in model.graph.node:
        if node.op_type == 'Cast':
            counts['cast_nodes'] += 1
            continue
        dtypes = [types.get(name) for name in (*node.output, *node.input) if name]
        dtype = next((t for t in dtypes if t in floats), None)
        if node.op_type in _SHAPE_OPS or dtype is None:
            counts['other_nodes'] += 1
        elif dtype == TensorProto.FLOAT16:
            counts['fp16_nodes'] += 1
        else:
            counts['fp32_nodes'] += 1
            fp32_ops[node.op_type] += 1
    return dict(fp16_nodes=counts['fp16_nodes'], fp32_nodes=counts['fp32_nodes'],
                cast_nodes=counts['cast_nodes'], other_nodes=counts['other_nodes'],
                fp32_ops=dict(sorted(fp32_ops.items())))
