"""TensorRT compatibility lint for ONNX graphs, on a machine without TensorRT or a GPU.

The exported detectors and segmentors are plain ONNX (opset 17), but TensorRT's ONNX
parser accepts only part of ONNX. Building an engine is the real test; this lint gives
the same verdict for the documented cases early, on CPU, and names every offending node
at once instead of stopping at the first one as the parser does.

Data sources (:data:`OPS_TABLES`): the operator support matrix of TensorRT's ONNX parser,
``docs/operators.md`` of https://github.com/onnx/onnx-tensorrt, for TensorRT 10.15
(``data/tensorrt10_onnx_ops.json``, opsets 9 to 24) and for TensorRT 10.0, the oldest
supported (``data/tensorrt10.0_onnx_ops.json``, opsets 9 to 20, derived by
``tools/analysis/ops_table.py``: its parser wants Slice/Squeeze/Pad/CumSum axes as
initializers, Unsqueeze axes constant, Pow without integers, ScatterND without
``reduction``): rows and restriction texts as the docs give them, plus the restrictions
turned into machine-checkable rules; each ``source`` entry says what was read.
:func:`lint_versions` lints a graph against every table; :func:`table_for` picks the
table of an installed TensorRT.

Checked for every node, including those in ``If``/``Loop``/``Scan`` subgraphs and in
model-local function bodies (TensorRT 10 inlines those):

* error: an operator outside ONNX's default domain (it needs a TensorRT plugin), one the
  matrix lists as unsupported or does not list, a restricted attribute value (the ONNX
  default counts when the attribute is unset), a forbidden input or extra output, an
  input that must be an initializer and is computed, a constant input whose value
  breaks a rule (``TopK`` ``K < 3840``, zero points), a rank the doc excludes, a data
  type TensorRT has no equivalent for, and a default-domain opset outside the table's
  range (9 to 24);
* warning: a data type that TensorRT supports in general but the matrix does not list
  for the operator (the matrix summarises; the parser may cast or reject), a ``DOUBLE``
  tensor (the doc says TensorRT casts it to FLOAT), an input that must be a build-time
  constant and is computed (TensorRT may still fold it), and a failed shape inference.

Restrictions the doc states only in words (branch ranks of ``If``, static ``Loop`` scan
lengths, ...) are kept as text in the table and not checked, so a clean lint does not
guarantee that ``trtexec`` builds the engine.
"""
from __future__ import annotations

import json
import os
import re
from collections import ChainMap
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterator, Literal, Mapping, Sequence

import numpy as np
import onnx
from onnx import (FunctionProto, GraphProto, ModelProto, NodeProto, TensorProto, helper,
                  numpy_helper)

__all__ = ['LintIssue', 'TensorRTCompatError', 'check_tensorrt_compat', 'format_issues',
           'lint_onnx', 'lint_versions', 'load_ops_table', 'table_for', 'OPS_TABLES']

# the TensorRT version whose parser rules a table holds -> its file in data/, oldest first
OPS_TABLES = {'10.0': 'tensorrt10.0_onnx_ops.json', '10.15': 'tensorrt10_onnx_ops.json'}
OLDEST_TABLE, NEWEST_TABLE = '10.0', '10.15'
OPS_TABLE_FILE = OPS_TABLES[NEWEST_TABLE]  # the default: the newest rules
DEFAULT_DOMAINS = ('', 'ai.onnx')
# The matrix's types for these describe the carried values, which their subgraph nodes check.
CONTROL_FLOW_OPS = ('If', 'Loop', 'Scan')
MODEL_NODE = '<model>'

Severity = Literal['error', 'warning']

# ONNX element types under the doc's names. onnx-tensorrt's convertDtype maps only
# FLOAT8E4M3FN to TensorRT's FP8 and FLOAT4E2M1 to FP4; other FP8 flavours have no TRT type.
_DOC_TYPE_NAMES = {
    getattr(TensorProto, onnx_name): doc_name
    for onnx_name, doc_name in (('DOUBLE', 'DOUBLE'), ('FLOAT', 'FP32'), ('FLOAT16', 'FP16'),
                                ('BFLOAT16', 'BF16'), ('FLOAT8E4M3FN', 'FP8'),
                                ('FLOAT4E2M1', 'FP4'), ('INT32', 'INT32'), ('INT64', 'INT64'),
                                ('INT8', 'INT8'), ('INT4', 'INT4'), ('UINT8', 'UINT8'),
                                ('BOOL', 'BOOL'))
    if hasattr(TensorProto, onnx_name)  # FLOAT4E2M1 needs onnx >= 1.18
}


@dataclass(frozen=True)
class LintIssue:
    """One finding; ``graph`` is the subgraph path ('' for the main graph)."""

    node: str
    op_type: str
    severity: Severity
    message: str
    graph: str = ''

    def __str__(self) -> str:
        where = f'{self.graph}/{self.node}' if self.graph else self.node
        op = f' ({self.op_type})' if self.op_type else ''
        return f'{self.severity}: {where}{op}: {self.message}'


class TensorRTCompatError(ValueError):
    """The graph uses something TensorRT's ONNX parser rejects; ``issues`` lists it all."""

    def __init__(self, message: str, issues: Sequence[LintIssue]):
        super().__init__(message)
        self.issues = list(issues)


def load_ops_table(path: str | os.PathLike | None = None,
                   version: str | None = None) -> dict[str, Any]:
    """Read an operator table: ``path``, or the packaged table of TensorRT ``version``
    (a key of :data:`OPS_TABLES`; default the newest)."""
    if path is not None:
        text = Path(path).read_text(encoding='utf-8')
    else:
        if version is not None and version not in OPS_TABLES:
            raise ValueError(f'no TensorRT operator table for {version!r}; tables: '
                             f'{", ".join(OPS_TABLES)}')
        name = OPS_TABLES[version] if version else OPS_TABLE_FILE
        # importlib.resources rather than __file__, so a zipped install works too
        text = (resources.files('trtvit_dense.deploy.onnx') / 'data' / name).read_text(
            encoding='utf-8')
    return json.loads(text)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r'\d+', version)[:3])


def table_for(tensorrt_version: str) -> str:
    """The table whose rules an installed TensorRT parses by: the newest table not newer
    than it (11.x parses like the newest table; anything older than 10.15 gets the
    stricter rules of the oldest table, as the versions in between are not tabled)."""
    if _version_key(tensorrt_version) >= _version_key(NEWEST_TABLE):
        return NEWEST_TABLE
    return OLDEST_TABLE


def lint_versions(model_or_path) -> dict[str, list[LintIssue]]:
    """:func:`lint_onnx` against the rules of every tabled TensorRT version."""
    model = model_or_path if isinstance(model_or_path, ModelProto) else onnx.load(
        os.fspath(model_or_path), load_external_data=False)
    return {v: lint_onnx(model, load_ops_table(version=v)) for v in OPS_TABLES}


@dataclass
class _Scope:
    """What is known about the tensors visible in one graph (outer scopes included)."""

    path: str
    types: ChainMap[str, int] = field(default_factory=ChainMap)
    ranks: ChainMap[str, int] = field(default_factory=ChainMap)
    # initializers and Constant outputs: the parser imports both as weights
    constants: ChainMap[str, TensorProto] = field(default_factory=ChainMap)

    def child(self, path: str) -> _Scope:
        return _Scope(path, self.types.new_child(), self.ranks.new_child(),
                      self.constants.new_child())

    def add_graph(self, graph: GraphProto | FunctionProto) -> None:
        if isinstance(graph, GraphProto):
            for info in (*graph.input, *graph.value_info, *graph.output):
                tensor_type = info.type.tensor_type
                if info.type.HasField('tensor_type') and tensor_type.elem_type:
                    self.types[info.name] = tensor_type.elem_type
                    if tensor_type.HasField('shape'):
                        self.ranks[info.name] = len(tensor_type.shape.dim)
            for init in graph.initializer:
                self._add_constant(init.name, init)
        for node in graph.node:
            if node.op_type == 'Constant' and node.domain in DEFAULT_DOMAINS and node.output:
                tensor = _constant_node_tensor(node)
                if tensor is not None:
                    self._add_constant(node.output[0], tensor)

    def _add_constant(self, name: str, tensor: TensorProto) -> None:
        self.constants[name] = tensor
        self.types[name] = tensor.data_type
        self.ranks[name] = len(tensor.dims)

    def value(self, name: str) -> np.ndarray | None:
        """The constant's value, or None where it is computed or its data was not loaded."""
        tensor = self.constants.get(name)
        if tensor is None or tensor.data_location == TensorProto.EXTERNAL:
            return None
        return numpy_helper.to_array(tensor)


def _constant_node_tensor(node: NodeProto) -> TensorProto | None:
    for attr in node.attribute:
        if attr.ref_attr_name:
            return None
        value = helper.get_attribute_value(attr)
        if attr.name == 'value':
            return value
        if attr.name in ('value_float', 'value_floats'):
            return numpy_helper.from_array(np.asarray(value, dtype=np.float32))
        if attr.name in ('value_int', 'value_ints'):
            return numpy_helper.from_array(np.asarray(value, dtype=np.int64))
    return None  # sparse or string constants: not weights the checks below can use


@dataclass
class _Linter:
    table: Mapping[str, Any]
    opset: int
    functions: dict[tuple[str, str], FunctionProto]
    issues: list[LintIssue] = field(default_factory=list)
    _inlining: set[tuple[str, str]] = field(default_factory=set)

    @property
    def version(self) -> str:
        return f"TensorRT {self.table.get('tensorrt_version', '?')}"

    def add(self, node: str, op_type: str, severity: Severity, message: str,
            graph: str = '') -> None:
        self.issues.append(LintIssue(node, op_type, severity, message, graph))

    def lint_graph(self, graph: GraphProto | FunctionProto, scope: _Scope) -> None:
        scope.add_graph(graph)
        for index, node in enumerate(graph.node):
            self.lint_node(node, node.name or f'{node.op_type}_{index}', scope)

    def lint_node(self, node: NodeProto, name: str, scope: _Scope) -> None:
        key = (node.domain, node.op_type)
        if key in self.functions:
            self.lint_function(node, name, scope)
        elif node.domain not in DEFAULT_DOMAINS:
            self.add(name, node.op_type, 'error',
                     f"custom operator {node.domain}::{node.op_type} (domain "
                     f"'{node.domain}'): {self.version}'s ONNX parser imports operators "
                     "outside ONNX's default domain only through a registered TensorRT "
                     'plugin, so custom operators need plugins', scope.path)
        else:
            self.check_op(node, name, scope)
        path = f'{scope.path}/{name}' if scope.path else name
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                self.lint_graph(attr.g, scope.child(f'{path}.{attr.name}'))
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for i, subgraph in enumerate(attr.graphs):
                    self.lint_graph(subgraph, scope.child(f'{path}.{attr.name}[{i}]'))

    def lint_function(self, node: NodeProto, name: str, scope: _Scope) -> None:
        key = (node.domain, node.op_type)
        if key in self._inlining:  # recursive functions are invalid ONNX; do not loop
            return
        self._inlining.add(key)
        path = f'{scope.path}/{name}' if scope.path else name
        # the body sees only its own tensors; the calling graph's names are not in scope
        self.lint_graph(self.functions[key], _Scope(f'{path}:{node.domain}::{node.op_type}'))
        self._inlining.discard(key)

    def check_op(self, node: NodeProto, name: str, scope: _Scope) -> None:
        op_type = node.op_type
        spec = self.table['ops'].get(op_type)
        if spec is None:
            self.add(name, op_type, 'error',
                     f"{op_type} is not in {self.version}'s ONNX operator table", scope.path)
            return
        if not spec['supported']:
            note = f" ({spec['restrictions']})" if spec.get('restrictions') else ''
            self.add(name, op_type, 'error',
                     f"{self.version}'s ONNX parser does not support {op_type}{note}",
                     scope.path)
            return
        schema = _schema(op_type, self.opset)
        for message in self._attribute_violations(node, spec, schema):
            self.add(name, op_type, 'error', message, scope.path)
        for severity, message in self._input_violations(node, spec, scope):
            self.add(name, op_type, severity, message, scope.path)
        max_outputs = spec.get('max_outputs')
        if max_outputs is not None:
            extra = [out for out in node.output[max_outputs:] if out]
            if extra:
                self.add(name, op_type, 'error',
                         f'outputs {extra} are not supported: {self.version} supports only '
                         f'the first {max_outputs} output(s) of {op_type}', scope.path)
        if op_type not in CONTROL_FLOW_OPS and 'types' in spec:
            for severity, message in self._type_violations(node, spec, schema, scope):
                self.add(name, op_type, severity, message, scope.path)

    def _attribute_violations(self, node: NodeProto, spec: Mapping[str, Any],
                              schema: onnx.defs.OpSchema | None) -> Iterator[str]:
        attrs = {attr.name: attr for attr in node.attribute}
        for attr_name, rule in spec.get('attributes', {}).items():
            attr = attrs.get(attr_name)
            if attr is not None and attr.ref_attr_name:
                continue  # set by the calling function; unknown here
            if rule.get('forbidden'):
                if attr is not None:
                    yield f"attribute '{attr_name}' is not supported by {self.version}"
                continue
            value = (_python_value(helper.get_attribute_value(attr)) if attr is not None
                     else _schema_default(schema, attr_name))
            if value is None:
                continue
            allowed = rule.get('allowed')
            if allowed is not None and value not in allowed:
                yield (f'{attr_name}={value!r} is not supported by {self.version}; '
                       f'allowed {attr_name} values: {_listing(allowed)}')
            each_allowed = rule.get('each_allowed')
            if each_allowed is not None and any(v not in each_allowed for v in value):
                yield (f'{attr_name}={value!r} is not supported by {self.version}; every '
                       f'element of {attr_name} must be one of {_listing(each_allowed)}')
            lengths = rule.get('length_allowed')
            if lengths is not None and len(value) not in lengths:
                yield (f'{attr_name}={value!r} is not supported by {self.version}; '
                       f'{attr_name} must have length {_listing(lengths)}')

    def _input_violations(self, node: NodeProto, spec: Mapping[str, Any],
                          scope: _Scope) -> Iterator[tuple[Severity, str]]:
        for input_name, rule in spec.get('inputs', {}).items():
            index = rule['index']
            tensor = node.input[index] if index < len(node.input) else ''
            if not tensor:
                continue  # an absent optional input takes the ONNX default
            label = f"input {index} '{input_name}' ({tensor})"
            if rule.get('forbidden'):
                yield 'error', f'{label} is not supported by {self.version}'
                continue
            must_be = rule.get('must_be')
            if must_be and tensor not in scope.constants:
                if must_be == 'initializer':
                    yield 'error', (f'{label} must be an initializer for {self.version}, '
                                    'but the graph computes it')
                else:
                    yield 'warning', (f'{label} must be a build-time constant for '
                                      f'{self.version}; the graph computes it, so the '
                                      'engine build fails unless TensorRT folds it')
            value = scope.value(tensor)
            if value is not None:
                yield from (('error', f'{label} {message}')
                            for message in _value_violations(value, rule, self.version))
            ranks = rule.get('rank_allowed')
            rank = scope.ranks.get(tensor)
            if ranks is not None and rank is not None and rank not in ranks:
                yield 'error', (f'{label} has rank {rank}; {self.version} requires rank '
                                f'{_listing(ranks)}')

    def _type_violations(self, node: NodeProto, spec: Mapping[str, Any],
                         schema: onnx.defs.OpSchema | None,
                         scope: _Scope) -> Iterator[tuple[Severity, str]]:
        supported = spec['types']
        offending: dict[int, list[str]] = {}
        for tensor in dict.fromkeys(_data_inputs(node, schema)):
            elem_type = scope.types.get(tensor)
            if elem_type and _DOC_TYPE_NAMES.get(elem_type) not in supported:
                offending.setdefault(elem_type, []).append(tensor)
        for elem_type, tensors in offending.items():
            type_name = TensorProto.DataType.Name(elem_type)
            doc_name = _DOC_TYPE_NAMES.get(elem_type)
            subject = (f'input {tensors[0]!r} is' if len(tensors) == 1
                       else f'inputs {_listing(tensors)} are')
            if doc_name is None:
                yield 'error', f'{subject} {type_name}, which has no {self.version} data type'
            elif doc_name == 'DOUBLE':
                yield 'warning', (f'{subject} DOUBLE: {self.version} casts DOUBLE down to '
                                  'FLOAT, clamping to +-FLT_MAX')
            else:
                yield 'warning', (f'{subject} {type_name}, but {self.version} documents '
                                  f"{node.op_type} for {', '.join(supported)} only")


def _value_violations(value: np.ndarray, rule: Mapping[str, Any],
                      version: str) -> Iterator[str]:
    flat = value.reshape(-1).tolist()
    allowed = rule.get('values_allowed')
    if allowed is not None and any(v not in allowed for v in flat):
        yield f'is {_short(flat)}; {version} requires a value in {_listing(allowed)}'
    bound = rule.get('values_below')
    if bound is not None and any(v >= bound for v in flat):
        yield f'is {_short(flat)}; {version} requires it to be less than {bound}'
    if rule.get('all_zero') and any(v != 0 for v in flat):
        yield f'is {_short(flat)}; {version} requires it to be zero'


def _data_inputs(node: NodeProto, schema: onnx.defs.OpSchema | None) -> list[str]:
    """The inputs the matrix's types describe: those typed like the first input.

    The matrix gives one type list per operator, meaning its data tensor; shape, index and
    threshold inputs (``Resize`` sizes, ``NonMaxSuppression`` max_output_boxes_per_class,
    ``RoiAlign`` batch_indices: all INT64) bind other type constraints and are left out,
    otherwise every detection graph would be flagged.
    """
    names = list(node.input)
    if schema is None or not schema.inputs:
        return names[:1] if names and names[0] else []
    formals = schema.inputs
    variadic = formals[-1].option == onnx.defs.OpSchema.FormalParameterOption.Variadic
    data_type = formals[0].type_str
    picked = []
    for i, name in enumerate(names):
        if not name:
            continue
        if i >= len(formals) and not variadic:
            break
        if formals[min(i, len(formals) - 1)].type_str == data_type:
            picked.append(name)
    return picked


def _schema(op_type: str, opset: int) -> onnx.defs.OpSchema | None:
    try:
        return onnx.defs.get_schema(op_type, opset, '')
    except onnx.defs.SchemaError:
        return None


def _schema_default(schema: onnx.defs.OpSchema | None, name: str) -> Any:
    attr = schema.attributes.get(name) if schema is not None else None
    if attr is None or attr.default_value.type == onnx.AttributeProto.UNDEFINED:
        return None
    return _python_value(helper.get_attribute_value(attr.default_value))


def _python_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode('utf-8')
    if isinstance(value, (list, tuple)):
        return [_python_value(v) for v in value]
    return value


def _listing(values: Sequence[Any]) -> str:
    return ', '.join(repr(v) for v in values)


def _short(values: list[Any], limit: int = 8) -> str:
    if len(values) == 1:
        return repr(values[0])
    shown = ', '.join(repr(v) for v in values[:limit])
    return f'[{shown}, ...]' if len(values) > limit else f'[{shown}]'


def _default_opset(model: ModelProto) -> int | None:
    for opset in model.opset_import:
        if opset.domain in DEFAULT_DOMAINS:
            return opset.version
    return None


def lint_onnx(model_or_path: ModelProto | str | os.PathLike,
              ops_table: Mapping[str, Any] | None = None) -> list[LintIssue]:
    """Check every node of the model against TensorRT's ONNX operator table.

    Args:
        model_or_path: an ONNX model or the path of one. A file is read without its
            external data: only small constant inputs are inspected, and those are
            stored inline by ONNX.
        ops_table: an operator table like ``load_ops_table()`` returns (the default).

    Returns:
        The issues in graph order, errors and warnings mixed.
    """
    table = load_ops_table() if ops_table is None else ops_table
    if isinstance(model_or_path, ModelProto):
        model = model_or_path
    else:
        model = onnx.load(os.fspath(model_or_path), load_external_data=False)
    issues: list[LintIssue] = []
    try:
        # types and ranks of intermediate tensors; unknown (custom) ops are skipped over
        model = onnx.shape_inference.infer_shapes(model)
    except (onnx.shape_inference.InferenceError, ValueError) as exc:
        issues.append(LintIssue(MODEL_NODE, '', 'warning',
                                f'shape inference failed ({exc}); data types and ranks are '
                                'checked only where the model records them'))
    version = f"TensorRT {table.get('tensorrt_version', '?')}"
    opset = _default_opset(model)
    low, high = table.get('opset_range', (None, None))
    if opset is not None and low is not None and not low <= opset <= high:
        issues.append(LintIssue(MODEL_NODE, '', 'error',
                                f'the model imports ONNX opset {opset}; {version} supports '
                                f'opsets {low} to {high}'))
    linter = _Linter(table, opset or onnx.defs.onnx_opset_version(),
                     {(f.domain, f.name): f for f in model.functions}, issues=issues)
    linter.lint_graph(model.graph, _Scope(''))
    return linter.issues


def format_issues(issues: Sequence[LintIssue]) -> str:
    """One line per issue, then a count: the report a deploy tool prints."""
    if not issues:
        return 'TensorRT lint: no issues'
    errors = sum(issue.severity == 'error' for issue in issues)
    lines = [str(issue) for issue in issues]
    lines.append(f'TensorRT lint: {errors} error(s), {len(issues) - errors} warning(s)')
    return '\n'.join(lines)


def check_tensorrt_compat(model_or_path: ModelProto | str | os.PathLike,
                          ops_table: Mapping[str, Any] | None = None) -> list[LintIssue]:
    """Raise :class:`TensorRTCompatError` listing every error; return the warnings."""
    table = load_ops_table() if ops_table is None else ops_table
    issues = lint_onnx(model_or_path, table)
    errors = [issue for issue in issues if issue.severity == 'error']
    if errors:
        name = 'the model' if isinstance(model_or_path, ModelProto) else str(model_or_path)
        raise TensorRTCompatError(
            f"{name} is not compatible with TensorRT {table.get('tensorrt_version', '?')} "
            f'({len(errors)} error(s)):\n' + '\n'.join(str(issue) for issue in errors),
            errors)
    return issues
