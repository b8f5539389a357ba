"""Int8 post-training quantization of the exported graph into QDQ ONNX.

:func:`quantize_int8` calibrates the float32 ``end2end.onnx`` on real images and writes
a graph with explicit ``QuantizeLinear``/``DequantizeLinear`` pairs (QDQ), the form
ONNX Runtime fuses into int8 kernels and TensorRT 10/11 builds as an explicitly
quantized, strongly typed network (no INT8 builder flag, no TensorRT calibrator). It
uses ``onnxruntime.quantization``: ``quant_pre_process`` (ONNX shape inference and
ORT's basic, standard-op optimisations: constant folding, Identity removal, so that
``Linear`` weights are initializers the quantizer recognises), then ``quantize_static``
with ``QuantFormat.QDQ`` and MinMax calibration over the images.

What is quantized: ``Conv``, and ``Gemm``/``MatMul`` whose weight is an initializer
(:data:`QUANTIZED_OPS`), weights int8 per output channel and symmetric (zero point 0,
[-127, 127], what TensorRT requires of weights), their activation inputs and outputs
per tensor; ``Relu`` is quantized with them so the ranges after it are calibrated, and
kept as a node (``QDQKeepRemovableActivations``) so every Q/DQ pair stands for a
rounding of a tensor that also exists in float.

What stays float, and why:

* ``MatMul`` with two activation inputs (:func:`excluded_nodes`): attention's
  ``Q @ K^T`` and ``attn @ V`` and the averaging matrices of the PPM rewrite. Their
  two operands have ranges that change with every image and token (no per-channel
  weight scale to absorb them), and the attention logits feed an exponential.
* :data:`FLOAT_OPS`: ``LayerNormalization`` (and the ReduceMean/Pow/Sqrt/Div pieces of
  a decomposed one), whose statistics run over the channels of the Transformer's
  residual stream, where a few outlier channels (as trained ViTs have) set the int8
  range and flatten everything else to a handful of levels; ``Softmax``
  (exponentials of rounded logits); and the post-processing: ``TopK``,
  ``NonMaxSuppression``, ``ArgMax`` and ``ReduceMax``, where a rounded score reorders
  near-ties and a rounded box delta moves a box by a step of the range. ``RoiAlign``
  reads the int8 FPN features (its box coordinates stay float), so the FPN output convs
  and the RoI heads' convs and FCs compute in int8.
* What these ops and the graph outputs read: ORT's quantizer also quantizes the
  *outputs* of quantized ops (ONNX Runtime needs ``DQ -> Conv -> Q`` to run an int8
  kernel), so a LayerNorm after a patch-embedding conv, or the box decoding after the
  regression conv, would read a tensor rounded to 8 bits. After quantization, every
  node on a float path into one of them (walking up through non-quantized nodes, to
  the first quantized op) reads the float tensor instead of its dequantized copy
  (:func:`dequantized_readers` finds them; a Q/DQ pair left unread is removed). The
  residual stream around the Transformer blocks and the logits, scores, boxes and
  masks are therefore float; the convs and linears that produce them still read
  int8 inputs and weights for TensorRT (an int8 conv with float output), but for ONNX
  Runtime, which has int8 convs only with int8 outputs (``DQ -> Conv -> Q``), such a
  conv is restored to float weights (a float conv behind DQ nodes would be slower than
  the fp32 graph), as are the convs that cascade from it (``float_output_convs`` in
  the stats).

GroupNorm (exported as InstanceNormalization, in the toy configs' necks and heads) is
not in :data:`FLOAT_OPS`: it computes in float but reads the int8 output of the conv
before it, as in int8 CNN deployments; pass ``float_ops`` to change that
(``docs/quantization.md`` has the measurement behind this choice).

Two targets, one difference: the activation scheme.

* ``'tensorrt'``: int8 *symmetric* activations (zero point 0: TensorRT's only
  quantization scheme) and float biases (TensorRT's DequantizeLinear takes no INT32).
* ``'onnxruntime'``: *uint8 asymmetric* activations with int8 symmetric weights, ONNX
  Runtime's recommended x86 scheme (U8S8, the VNNI kernels), with which its optimiser
  fuses every conv into QLinearConv (``docs/quantization.md``). Biases are int32
  (ORT's QLinearConv takes them).

Calibration (:class:`CalibrationImages`): each image goes through the verification
preprocessing (:func:`~trtvit_dense.deploy.verify.make_inputs`: resized to the deploy
profile's opt H x W, normalised like the model's data preprocessor), one per batch,
so the ranges are those of the input size the engine is tuned for.

Accuracy: the verification against PyTorch uses :data:`INT8_TOLERANCES`, looser than
fp32's and named in the manifest (see its comment).
"""
from __future__ import annotations

import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Sequence, Union

import numpy as np
import onnx
from onnx import TensorProto

from ...utils.atomic import atomic_path
from .fp16 import load_onnx
from ..backends import BACKENDS
from ..onnx.graph import name_nodes, remove_unread
from ..verify import Tolerances, make_inputs

__all__ = ['QUANTIZED_OPS', 'FLOAT_OPS', 'TARGETS', 'CALIBRATION_METHODS',
           'DEFAULT_CALIB_NUM', 'INT8_TOLERANCES', 'CalibrationImages', 'spread',
           'excluded_nodes', 'quantize_int8', 'dequantized_readers', 'quantized_nodes',
           'qdq_scheme', 'qdq_placement', 'graph_stats', 'keep_source_metadata',
           'validate_quantized', 'drop_default_reductions', 'POST_PROCESSING_OPS',
           'float_path_nodes']

PathLike = Union[str, os.PathLike]

#: Op types whose inputs and weights are quantized (MatMul/Gemm only with a weight).
QUANTIZED_OPS: tuple[str, ...] = ('Conv', 'MatMul', 'Gemm')
#: Op types kept float, together with everything on a float path into them.
FLOAT_OPS: tuple[str, ...] = (
    # LayerNorm: statistics over the channels of a residual stream with outlier channels
    'LayerNormalization',
    # a decomposed LayerNorm (opset < 17): mean, (x - mean)^2, sqrt, division
    'ReduceMean', 'Pow', 'Sqrt', 'Reciprocal', 'Div',
    # exponentials of rounded logits
    'Softmax', 'LogSoftmax',
    # post-processing: score order, box coordinates, label decisions. (RoiAlign is not
    # here: it samples the int8 outputs of the FPN convs at float box coordinates, as
    # the RoI heads' convs and FCs after it read int8; docs/quantization.md measured it)
    'TopK', 'NonMaxSuppression', 'ArgMax', 'ReduceMax',
)
#: the backends a quantized graph is made for (each has its activation scheme, see the
#: module docstring): those that run deployed files
TARGETS: tuple[str, ...] = tuple(name for name, entry in BACKENDS.items() if entry.deployed)
CALIBRATION_METHODS: tuple[str, ...] = ('minmax', 'percentile', 'entropy')
DEFAULT_CALIB_NUM = 32

# Verification of int8 against PyTorch fp32. fp32's tolerances catch export bugs; int8
# moves boxes by steps of the quantized ranges, reorders near-tied low scores, flips mask
# probabilities at object borders and is calibrated at the opt shape only. So boxes and
# pixels are checked loosely (tight enough to fail a broken calibration) and dense
# tensors (masks, logits) are reported, not checked; docs/quantization.md has the
# measurements these bounds come from.
# Classifiers: the top-1 class must survive (>= 90% of the images; the toy classifiers
# keep 100%), probabilities may move by 0.05 (the toy TRT-ViT-A moved at most 1.1e-2).
INT8_TOLERANCES = Tolerances(box_match=0.5, box_iou=0.5, pixel_agree=0.95, dense_rel=1.0,
                             top1_agree=0.9, score_abs=0.05)

_SHAPE_OPS = frozenset({'Shape', 'Size'})
_Q, _DQ = 'QuantizeLinear', 'DequantizeLinear'


def spread(items: Sequence, num: int) -> list:
    """``num`` items spread evenly over ``items`` (all of them when ``num`` is larger),
    first and last included, in order: a calibration set that covers a sorted folder or
    a dataset instead of its first few images."""
    if num < 1:
        raise ValueError(f'num must be >= 1, got {num}')
    if num >= len(items):
        return list(items)
    index = np.unique(np.round(np.linspace(0, len(items) - 1, num)).astype(int))
    return [items[i] for i in index]


class CalibrationImages:
    """A ``CalibrationDataReader`` for ``quantize_static``: one [1, 3, H, W] float32
    batch per image, preprocessed like the verification inputs when it is asked for
    (decoded BGR images are held, not the larger float batches)."""

    def __init__(self, images: Sequence[np.ndarray], size: Sequence[int],
                 mean: Sequence[float], std: Sequence[float], bgr_to_rgb: bool,
                 input_name: str = 'input'):
        if not images:
            raise ValueError('calibration needs at least one image')
        self.images = list(images)
        self.shape = (1, 3, int(size[0]), int(size[1]))
        self.mean, self.std, self.bgr_to_rgb = mean, std, bgr_to_rgb
        self.input_name = input_name
        self._next = 0

    def __len__(self) -> int:
        return len(self.images)

    def __iter__(self):
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        batch = self.get_next()
        if batch is None:
            raise StopIteration
        return batch

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._next >= len(self.images):
            return None
        x = make_inputs([self.images[self._next]], self.shape, self.mean, self.std,
                        self.bgr_to_rgb)
        self._next += 1
        return {self.input_name: x}

    def get_first(self) -> dict[str, np.ndarray]:
        """The first batch, without moving on (ModelOpt runs one before calibrating)."""
        return {self.input_name: make_inputs([self.images[0]], self.shape, self.mean,
                                             self.std, self.bgr_to_rgb)}

    def rewind(self) -> None:
        self._next = 0


# -- graph queries ------------------------------------------------------------------
def _constants(graph: onnx.GraphProto) -> set[str]:
    return ({t.name for t in graph.initializer}
            | {o for n in graph.node if n.op_type == 'Constant' for o in n.output})


def excluded_nodes(model: onnx.ModelProto) -> dict[str, str]:
    """Nodes of :data:`QUANTIZED_OPS` types left float, ``{name: reason}``: those
    whose weight (input 1) is computed rather than stored, i.e. attention's MatMuls
    and the PPM rewrite's averaging matrices."""
    constants = _constants(model.graph)
    excluded = {}
    for node in model.graph.node:
        if node.op_type in QUANTIZED_OPS and (len(node.input) < 2
                                              or node.input[1] not in constants):
            excluded[node.name] = ('both inputs are activations (attention / pooling '
                                   'matrix)')
    return excluded


def _producers(graph: onnx.GraphProto) -> dict[str, onnx.NodeProto]:
    return {out: node for node in graph.node for out in node.output if out}


def _is_quantized(node: onnx.NodeProto, producer: dict, initializers: set[str]) -> bool:
    """A Conv/MatMul/Gemm computing in int8: its weight is a DequantizeLinear of a
    stored int8 tensor (ONNX Runtime's quantizer), or of the QuantizeLinear of a stored
    float tensor (ModelOpt's: TensorRT folds the pair into int8 weights)."""
    if node.op_type not in QUANTIZED_OPS or len(node.input) < 2:
        return False
    weight = producer.get(node.input[1])
    if weight is None or weight.op_type != _DQ:
        return False
    if weight.input[0] in initializers:
        return True
    source = producer.get(weight.input[0])
    return (source is not None and source.op_type == _Q
            and source.input[0] in initializers)


def quantized_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes of :data:`QUANTIZED_OPS` types that compute in int8."""
    producer = _producers(model.graph)
    initializers = {t.name for t in model.graph.initializer}
    return [n.name for n in model.graph.node if _is_quantized(n, producer, initializers)]


def _is_weighted(node: onnx.NodeProto, producer: dict, constants: set[str]) -> bool:
    """A Conv/MatMul/Gemm with a stored weight (float, or a DequantizeLinear of a
    stored int8 tensor): where quantizing is a choice, and where float paths end."""
    if node.op_type not in QUANTIZED_OPS or len(node.input) < 2:
        return False
    weight = producer.get(node.input[1])
    return node.input[1] in constants or (
        weight is not None and weight.op_type == _DQ and weight.input[0] in constants)


def _float_seeds(model: onnx.ModelProto, producer: dict, constants: set[str],
                 float_ops: Sequence[str]) -> list[onnx.NodeProto]:
    """Nodes whose inputs must be float: ``float_ops``, MatMuls of two activations
    (attention) and the producers of the graph outputs."""
    seeds = [n for n in model.graph.node if n.op_type in float_ops
             or (n.op_type in QUANTIZED_OPS and not _is_weighted(n, producer, constants))]
    seeds += [producer[o.name] for o in model.graph.output if o.name in producer]
    return seeds


def _dequantized_edges(model: onnx.ModelProto, float_ops: Sequence[str] = FLOAT_OPS
                       ) -> list[tuple[onnx.NodeProto, int, str]]:
    """``(reader, input index, float tensor)`` for every input that reads a
    dequantized activation on a float path into a float seed (see the module
    docstring); ``float tensor`` is what the QuantizeLinear rounded."""
    graph = model.graph
    producer = _producers(graph)
    edges = []
    seen: set[int] = set()
    constants = _constants(graph)
    stack = _float_seeds(model, producer, constants, float_ops)

    def follow(name: str) -> None:
        # once read in float, the tensor's own float inputs are on the path too
        parent = producer.get(name)
        if (parent is not None and parent.op_type not in _SHAPE_OPS
                and parent.op_type not in (_Q, _DQ)
                and not _is_weighted(parent, producer, constants)):
            stack.append(parent)

    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.op_type == _DQ:  # a graph output produced by a DQ
            source = producer.get(node.input[0])
            if source is not None and source.op_type == _Q:
                edges.append((node, -1, source.input[0]))
                follow(source.input[0])
            continue
        for i, name in enumerate(node.input):
            parent = producer.get(name) if name else None
            if parent is not None and parent.op_type == _DQ:
                source = producer.get(parent.input[0])
                if source is not None and source.op_type == _Q:
                    edges.append((node, i, source.input[0]))
                    follow(source.input[0])
            elif name:
                follow(name)
    return edges


#: the post-processing op types: what reads scores, boxes and labels
POST_PROCESSING_OPS: tuple[str, ...] = ('TopK', 'NonMaxSuppression', 'ArgMax', 'ReduceMax')


def float_path_nodes(model: onnx.ModelProto,
                     seed_ops: Sequence[str] = POST_PROCESSING_OPS) -> list[str]:
    """Names of the nodes of a float graph on a path into ``seed_ops`` or a graph
    output, walking up through every node that is not a Conv/MatMul/Gemm with a stored
    weight (nor a shape op): the score, box-decoding and logit paths after the last
    weighted layers, which a quantizer should leave float (the seeds included)."""
    graph = model.graph
    producer = _producers(graph)
    constants = _constants(graph)
    stack = [n for n in graph.node if n.op_type in seed_ops]
    stack += [producer[o.name] for o in graph.output if o.name in producer]
    found: dict[int, onnx.NodeProto] = {}
    while stack:
        node = stack.pop()
        if id(node) in found or node.op_type in _SHAPE_OPS \
                or _is_weighted(node, producer, constants):
            continue
        found[id(node)] = node
        stack += [producer[name] for name in node.input if name in producer]
    return sorted(n.name for n in found.values() if n.name)


def dequantized_readers(model: onnx.ModelProto,
                        float_ops: Sequence[str] = FLOAT_OPS) -> list[str]:
    """Names of the nodes on a float path into ``float_ops``, an attention MatMul or a
    graph output that read a dequantized activation instead of its float value (empty
    for a graph made by :func:`quantize_int8` with the same ``float_ops``)."""
    return sorted({node.name for node, _, _ in _dequantized_edges(model, float_ops)})


def qdq_scheme(model: onnx.ModelProto) -> dict[str, Any]:
    """How the Q/DQ pairs quantize, read from the graph: element types of activations
    (QuantizeLinear outputs), stored weights and biases, and how many of each have a
    non-zero zero point (TensorRT takes only 0)."""
    stored = {t.name: t for t in model.graph.initializer}
    types: dict[str, Counter] = {'activations': Counter(), 'weights': Counter(),
                                 'biases': Counter()}
    nonzero: Counter = Counter()
    for node in model.graph.node:
        if node.op_type not in (_Q, _DQ):
            continue
        zp = stored.get(node.input[2]) if len(node.input) > 2 else None
        if node.op_type == _Q:
            # ModelOpt quantizes float weights in the graph (TensorRT folds the pair)
            kind = 'weights' if node.input[0] in stored else 'activations'
            # without a zero point QuantizeLinear outputs uint8
            dtype = TensorProto.DataType.Name(zp.data_type) if zp is not None else 'UINT8'
        elif node.input[0] in stored:
            dtype = TensorProto.DataType.Name(stored[node.input[0]].data_type)
            kind = 'biases' if dtype == 'INT32' else 'weights'
        else:
            continue  # the DQ of an activation: its Q is counted
        types[kind][dtype] += 1
        if zp is not None and np.any(onnx.numpy_helper.to_array(zp) != 0):
            nonzero[kind] += 1
    return {kind: dict(types=dict(counts), nonzero_zero_points=nonzero[kind])
            for kind, counts in types.items()}


# -- graph edits --------------------------------------------------------------------
def _restore_float_inputs(model: onnx.ModelProto, float_ops: Sequence[str]) -> int:
    """Let the nodes on float paths into ``float_ops``, attention MatMuls and graph
    outputs read float tensors instead of dequantized copies. Returns the number of
    inputs changed."""
    edges = _dequantized_edges(model, float_ops)
    for node, i, name in edges:
        if i < 0:  # DQ producing a graph output: becomes Identity of the float tensor
            node.op_type = 'Identity'
            node.domain = ''
            del node.attribute[:]
            del node.input[:]
            node.input.append(name)
        else:
            node.input[i] = name
    return len(edges)


def _float_output_convs(model: onnx.ModelProto) -> list[str]:
    """int8 Convs whose output is read by anything but a QuantizeLinear. ONNX Runtime's
    CPU provider has an int8 conv only as ``DQ -> Conv -> Q`` (QLinearConv, int8 out);
    any other conv runs in float behind DQ nodes that dequantize its weights on every
    call, slower than the float conv it replaces."""
    graph = model.graph
    producer = _producers(graph)
    initializers = {t.name for t in graph.initializer}
    readers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}
    return [n.name for n in graph.node
            if n.op_type == 'Conv' and _is_quantized(n, producer, initializers)
            and (n.output[0] in outputs
                 or any(r.op_type != _Q for r in readers.get(n.output[0], [])))]


def _restore_float_nodes(model: onnx.ModelProto, names: Iterable[str],
                         prepared: onnx.ModelProto) -> None:
    """Give the nodes ``names`` their float inputs and weights back from ``prepared``
    (the graph before quantization: the quantizer keeps node and tensor names)."""
    float_nodes = {n.name: n for n in prepared.graph.node}
    weights = {t.name: t for t in prepared.graph.initializer}
    present = {t.name for t in model.graph.initializer}
    restored: set[str] = set()
    for node in model.graph.node:
        if node.name in names:
            del node.input[:]
            node.input.extend(float_nodes[node.name].input)
            for name in node.input:
                if name in weights and name not in present:
                    model.graph.initializer.append(weights[name])
                    present.add(name)
                    restored.add(name)
    # the quantizer names a bias's DequantizeLinear output after the float bias: the
    # float initializer replaces it for every reader
    shadowing = [n for n in model.graph.node if n.op_type == _DQ and n.output[0] in restored]
    for node in shadowing:
        model.graph.node.remove(node)


def _finish_qdq(model: onnx.ModelProto, prepared: onnx.ModelProto, target: str,
                float_ops: Sequence[str]) -> tuple[int, list[str]]:
    """Float inputs for the float ops (and, for ONNX Runtime, float convs where ORT has
    no int8 kernel), repeated until nothing changes: a conv made float can leave the
    conv before it without an int8 reader. Returns (inputs restored, convs made float)."""
    restored, float_convs = 0, []
    while True:
        changed = _restore_float_inputs(model, float_ops)
        restored += changed
        if target == 'onnxruntime':
            convs = _float_output_convs(model)
            _restore_float_nodes(model, set(convs), prepared)
            float_convs += convs
            changed += len(convs)
        remove_unread(model.graph, (_Q, _DQ), initializers=True)  # then their tensors
        if not changed:
            return restored, float_convs


def drop_default_reductions(model: onnx.ModelProto) -> int:
    """Remove ``reduction='none'`` from scatter nodes, the ONNX default written out by
    ORT's pre-processing: TensorRT 10.0's parser refuses a ScatterND with any
    ``reduction`` attribute (the lint's 10.0 table), later ones accept 'none'. Returns
    how many were removed."""
    dropped = 0
    for node in model.graph.node:
        if node.op_type not in ('ScatterND', 'ScatterElements'):
            continue
        for attr in list(node.attribute):
            if attr.name == 'reduction' and attr.s in (b'none', b''):
                node.attribute.remove(attr)
                dropped += 1
    return dropped


def qdq_placement(model: onnx.ModelProto) -> dict[str, int]:
    """Where the graph computes on int8 activations: the number of nodes of each op
    type that read the DequantizeLinear of a QuantizeLinear (a rounded activation),
    e.g. ``{'Conv': 53, 'Add': 12, 'MaxPool': 1}``."""
    producer = _producers(model.graph)
    constants = _constants(model.graph)
    counts: Counter = Counter()
    for node in model.graph.node:
        if node.op_type in (_Q, _DQ) or node.op_type in _SHAPE_OPS:  # shapes only
            continue
        for name in node.input:
            parent = producer.get(name) if name else None
            source = (producer.get(parent.input[0])
                      if parent is not None and parent.input else None)
            if (parent is not None and parent.op_type == _DQ and source is not None
                    and source.op_type == _Q and source.input[0] not in constants):
                counts[node.op_type] += 1
                break
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def graph_stats(model: onnx.ModelProto, totals: dict[str, int]) -> dict[str, Any]:
    """What a quantized graph quantizes, read from the graph (either quantizer):
    the Q/DQ scheme, the int8 Conv/MatMul/Gemm of the float graph's ``totals``, the op
    types reading int8 activations (:func:`qdq_placement`), Q/DQ and node counts."""
    names = set(quantized_nodes(model))
    ops = {n.name: n.op_type for n in model.graph.node}
    counts = Counter(ops[name] for name in names)
    node_types = Counter(n.op_type for n in model.graph.node)
    return dict(
        scheme=qdq_scheme(model),
        quantized={op: f'{counts.get(op, 0)}/{totals[op]}' for op in QUANTIZED_OPS
                   if totals.get(op)},
        int8_inputs=qdq_placement(model),
        qdq_nodes=dict(quantize=node_types[_Q], dequantize=node_types[_DQ]),
        num_nodes=len(model.graph.node))


def keep_source_metadata(model: onnx.ModelProto, source: onnx.ModelProto) -> None:
    """Copy the export's metadata (the signature and deploy config DeployedModel reads)
    into the quantized ``model``."""
    props = {p.key: p.value for p in model.metadata_props}
    props.update({p.key: p.value for p in source.metadata_props})
    del model.metadata_props[:]
    for key, value in sorted(props.items()):
        model.metadata_props.add(key=key, value=value)


def validate_quantized(model: onnx.ModelProto, src: PathLike) -> None:
    """ValueError unless ``model`` (the quantization of ``src``) passes the full ONNX
    check."""
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise ValueError(f'the int8 quantization of {str(src)!r} is not a valid ONNX '
                         f'model: {e}') from e


# -- quantization -------------------------------------------------------------------
def _quant_options(target: str) -> dict[str, Any]:
    """``quantize_static`` arguments of a target (see the module docstring)."""
    from onnxruntime.quantization import QuantType
    extra = dict(WeightSymmetric=True, MatMulConstBOnly=True,
                 QDQKeepRemovableActivations=True)
    if target == 'tensorrt':
        return dict(activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    extra_options=dict(extra, ActivationSymmetric=True, QuantizeBias=False))
    return dict(activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                extra_options=dict(extra, ActivationSymmetric=False))


def quantize_int8(src: PathLike, dst: PathLike, calibration: Iterable[dict],
                  target: str = 'onnxruntime', calibrate_method: str = 'minmax',
                  per_channel: bool = True,
                  float_ops: Sequence[str] = FLOAT_OPS) -> dict[str, Any]:
    """Quantize the float32 ONNX model ``src`` into the QDQ model ``dst``.

    Args:
        src: the exported float32 graph (``end2end.onnx``).
        dst: output path, written under a temporary name and renamed once it passes
            ``onnx.checker``; a failure leaves no ``dst`` (an existing one untouched).
        calibration: a calibration data reader (``get_next() -> {input: array}`` or
            None), e.g. :class:`CalibrationImages`.
        target: 'onnxruntime' or 'tensorrt': the activation scheme (module docstring).
        calibrate_method: 'minmax' (default; ranges over all images), 'percentile'
            (99.999th percentile of |x|) or 'entropy' (both histogram-based, slower).
        per_channel: one weight scale per output channel (else per tensor).
        float_ops: op types that compute in float on float inputs (default
            :data:`FLOAT_OPS`; e.g. add 'InstanceNormalization' to keep GroupNorm
            inputs float too).

    Returns:
        JSON-ready stats for the manifest: target, scheme, quantized nodes by op type
        (and of how many), excluded nodes with reasons, float op counts, inputs
        restored to float, Q/DQ counts, seconds.

    Raises:
        FileNotFoundError / ValueError: ``src`` missing or not ONNX, a bad argument, or
        a result that fails the checker or still has float ops reading int8 values.
    """
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process
    if target not in TARGETS:
        raise ValueError(f'target must be one of {TARGETS}, got {target!r}')
    if calibrate_method not in CALIBRATION_METHODS:
        raise ValueError(f'calibrate_method must be one of {CALIBRATION_METHODS}, got '
                         f'{calibrate_method!r}')
    method = {'minmax': CalibrationMethod.MinMax, 'percentile': CalibrationMethod.Percentile,
              'entropy': CalibrationMethod.Entropy}[calibrate_method]
    start = time.perf_counter()
    src, dst = Path(src), Path(dst)
    source = load_onnx(src)
    with tempfile.TemporaryDirectory(prefix='trtvit-int8-') as tmp:
        pre, out = Path(tmp, 'pre.onnx'), Path(tmp, 'int8.onnx')
        # Symbolic shape inference is for transformer-only graphs; ONNX's suffices here
        # and the symbolic one does not know NonMaxSuppression/RoiAlign outputs.
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        prepared = onnx.load(str(pre))
        name_nodes(prepared.graph)
        onnx.save(prepared, str(pre))
        excluded = excluded_nodes(prepared)
        totals = Counter(n.op_type for n in prepared.graph.node if n.op_type in QUANTIZED_OPS)
        quantize_static(
            str(pre), str(out), calibration, quant_format=QuantFormat.QDQ,
            op_types_to_quantize=[*QUANTIZED_OPS, 'Relu'], per_channel=per_channel,
            nodes_to_exclude=sorted(excluded), calibrate_method=method,
            **_quant_options(target))
        model = onnx.load(str(out))
    restored, float_convs = _finish_qdq(model, prepared, target, float_ops)
    defaults_dropped = drop_default_reductions(model)
    keep_source_metadata(model, source)
    validate_quantized(model, src)
    left = dequantized_readers(model, float_ops)
    if left:
        raise ValueError(f'int8 graph of {str(src)!r}: float nodes still read int8 '
                         f'values: {left[:5]}')
    node_types = Counter(n.op_type for n in model.graph.node)
    stats = dict(
        quantizer='onnxruntime', target=target, calibrate_method=calibrate_method,
        per_channel=per_channel, float_precision='fp32',
        activations=('int8 symmetric (zero point 0)' if target == 'tensorrt'
                     else 'uint8 asymmetric'),
        weights='int8 symmetric' + (' per output channel' if per_channel else ''),
        **graph_stats(model, totals),
        excluded=excluded,
        float_output_convs=float_convs,
        float_ops={op: node_types[op] for op in float_ops if node_types[op]},
        float_op_types=list(float_ops),
        restored_float_inputs=restored,
        default_reductions_dropped=defaults_dropped,
        seconds=round(time.perf_counter() - start, 3))
    with atomic_path(dst) as tmp_path:
        onnx.save(model, str(tmp_path))
    return stats

