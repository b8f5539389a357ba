"""Small in-place edits of ONNX graphs shared by the fp16 and int8 converters."""
from __future__ import annotations

from collections import Counter
from typing import Iterable

import onnx

__all__ = ['name_nodes', 'remove_unread']


def name_nodes(graph: onnx.GraphProto) -> None:
    """Give unnamed and repeated nodes unique names (``op_type_index``): the converters'
    block and exclude lists match node names, so collisions would widen them."""
    names = Counter(node.name for node in graph.node)
    seen: set[str] = set()
    for i, node in enumerate(graph.node):
        if not node.name or node.name in seen:
            name = f'{node.op_type}_{i}'
            while name in names or name in seen:
                name += '_'
            node.name = name
        seen.add(node.name)


def remove_unread(graph: onnx.GraphProto, op_types: Iterable[str],
                  initializers: bool = False) -> None:
    """Delete nodes of ``op_types`` whose output nothing reads (repeatedly, so chains
    go), then the ``value_info`` of tensors no node produces any more, and with
    ``initializers`` the initializers nothing reads."""
    op_types = set(op_types)
    outputs = {o.name for o in graph.output}
    while True:
        read = {name for node in graph.node for name in node.input} | outputs
        dead = [n for n in graph.node if n.op_type in op_types and n.output[0] not in read]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
    if initializers:
        read = {name for node in graph.node for name in node.input} | outputs
        for tensor in [t for t in graph.initializer if t.name not in read]:
            graph.initializer.remove(tensor)
    produced = {o for node in graph.node for o in node.output}
    kept = [v for v in graph.value_info if v.name in produced]
    del graph.value_info[:]
    graph.value_info.extend(kept)
