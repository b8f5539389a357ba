"""TensorRT lint: the operator table, each rule on a hand-built graph, and a real export."""
from __future__ import annotations

import json
import re
import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from trtvit_dense.deploy.onnx.lint import (LintIssue, TensorRTCompatError,
                                          check_tensorrt_compat, format_issues, lint_onnx,
                                          load_ops_table)

FLOAT = TensorProto.FLOAT


def make_model(nodes, inputs, outputs, initializers=(), opset=17, functions=()):
    graph = helper.make_graph(nodes, 'g', inputs, outputs, initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid('', opset)],
                             functions=list(functions))


def tensor(name, elem_type=FLOAT, shape=(1, 8, 16, 16)):
    return helper.make_tensor_value_info(name, elem_type, shape)


def const(name, values, dtype=np.int64):
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


def single_node_model(node, inputs=('x',), elem_type=FLOAT, initializers=(), opset=17):
    """One node reading ``x`` (plus ``initializers``) and writing ``y`` of any type."""
    return make_model([node], [tensor(name, elem_type) for name in inputs],
                      [helper.make_tensor_value_info('y', TensorProto.UNDEFINED, None)],
                      initializers, opset)


def errors(issues):
    return [issue for issue in issues if issue.severity == 'error']


def clean_model():
    """Conv -> LayerNormalization -> bilinear Resize, sized by int64 shape arithmetic."""
    nodes = [
        helper.make_node('Conv', ['x', 'w', 'b'], ['conv'], name='conv', pads=[1, 1, 1, 1]),
        helper.make_node('Transpose', ['conv'], ['nhwc'], name='to_nhwc', perm=[0, 2, 3, 1]),
        helper.make_node('LayerNormalization', ['nhwc', 'gamma', 'beta'], ['ln'], name='ln',
                         axis=-1),
        helper.make_node('Transpose', ['ln'], ['nchw'], name='to_nchw', perm=[0, 3, 1, 2]),
        helper.make_node('Shape', ['nchw'], ['shape'], name='shape'),
        helper.make_node('Slice', ['shape', 'zero', 'two'], ['nc'], name='nc'),
        helper.make_node('Slice', ['shape', 'two', 'four'], ['hw'], name='hw'),
        helper.make_node('Mul', ['hw', 'two'], ['hw2'], name='double'),
        helper.make_node('Concat', ['nc', 'hw2'], ['sizes'], name='sizes', axis=0),
        helper.make_node('Resize', ['nchw', '', '', 'sizes'], ['y'], name='resize',
                         mode='linear', coordinate_transformation_mode='half_pixel'),
    ]
    inits = [const('w', np.zeros((8, 8, 3, 3)), np.float32),
             const('b', np.zeros(8), np.float32),
             const('gamma', np.ones(8), np.float32), const('beta', np.zeros(8), np.float32),
             const('zero', [0]), const('two', [2]), const('four', [4])]
    return make_model(nodes, [tensor('x')], [tensor('y', shape=('n', 'c', 'h', 'w'))], inits)


# --- the table -------------------------------------------------------------------------------

def test_ops_table_names_its_source():
    table = load_ops_table()
    source = table['source']
    assert source['repo'] == 'onnx/onnx-tensorrt'
    assert source['path'] == 'docs/operators.md'
    assert source['url'].startswith('https://github.com/onnx/onnx-tensorrt/')
    assert table['tensorrt_version'].startswith('10.')
    assert source['tensorrt_version'] == table['tensorrt_version']
    assert table['opset_range'][0] <= 17 <= table['opset_range'][1]


@pytest.mark.parametrize('op_type', ['NonMaxSuppression', 'RoiAlign', 'LayerNormalization',
                                     'Resize', 'TopK', 'ScatterND', 'Gather', 'Conv'])
def test_ops_table_supports_the_ops_our_exports_use(op_type):
    spec = load_ops_table()['ops'][op_type]
    assert spec['supported'] is True
    assert 'FP32' in spec['types']


def test_ops_table_is_consistent():
    table = load_ops_table()
    known_types = set(table['data_types']['supported'])
    for op_type, spec in table['ops'].items():
        assert set(spec.get('types', ())) <= known_types, op_type
        # rules only for supported ops, and only ones the doc states in words
        if not spec['supported']:
            assert not {'types', 'attributes', 'inputs', 'max_outputs'} & set(spec), op_type
        if {'attributes', 'inputs', 'max_outputs'} & set(spec):
            assert spec.get('restrictions'), op_type


def test_ops_table_defaults_are_allowed():
    """An unset attribute takes the ONNX default, so a default outside a rule would flag every
    node of that op."""
    table = load_ops_table()
    latest = table['opset_range'][1]
    checked = 0
    for op_type, spec in table['ops'].items():
        for name, rule in spec.get('attributes', {}).items():
            if 'allowed' not in rule:
                continue
            attr = onnx.defs.get_schema(op_type, latest, '').attributes[name]
            if attr.default_value.type:
                default = helper.get_attribute_value(attr.default_value)
                default = default.decode() if isinstance(default, bytes) else default
                assert default in rule['allowed'], (op_type, name)
                checked += 1
    assert checked >= 8  # Resize x5, ScatterND, TopK, LSTM x2, TensorScatter


def test_custom_ops_table_is_used(tmp_path):
    table = load_ops_table()
    table['ops']['Conv'] = {'supported': False}
    path = tmp_path / 'table.json'
    path.write_text(json.dumps(table))
    issues = lint_onnx(clean_model(), load_ops_table(path))
    assert [(i.node, i.severity) for i in issues] == [('conv', 'error')]


# --- clean graphs ----------------------------------------------------------------------------

def test_clean_graph_has_no_issues(tmp_path):
    model = clean_model()
    onnx.checker.check_model(model, full_check=True)
    assert lint_onnx(model) == []
    path = tmp_path / 'clean.onnx'
    onnx.save(model, path)
    assert lint_onnx(path) == []
    assert check_tensorrt_compat(str(path)) == []


def test_torch_export_is_clean(tmp_path):
    torch = pytest.importorskip('torch')
    nn, F = torch.nn, torch.nn.functional

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.norm = nn.LayerNorm(8)

        def forward(self, x):
            x = self.conv(x)
            b, c, h, w = x.shape
            tokens = F.gelu(self.norm(x.flatten(2).transpose(1, 2))).softmax(-1)
            x = tokens.transpose(1, 2).reshape(b, c, h, w)
            return F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False)

    path = tmp_path / 'block.onnx'
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # the TorchScript exporter's deprecation notice
        torch.onnx.export(Block().eval(), torch.randn(1, 3, 15, 17), str(path), dynamo=False,
                          opset_version=17, input_names=['input'],
                          dynamic_axes={'input': {0: 'batch', 2: 'height', 3: 'width'}})
    op_types = {node.op_type for node in onnx.load(path).graph.node}
    assert {'Conv', 'LayerNormalization', 'Erf', 'Softmax', 'Resize'} <= op_types
    issues = lint_onnx(path)
    assert issues == [], format_issues(issues)


# --- errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize('domain', ['mmcv', 'com.microsoft'])
def test_custom_domain_is_error(domain):
    node = helper.make_node('RoIAlign', ['x'], ['y'], name='roi', domain=domain)
    model = single_node_model(node)
    model.opset_import.append(helper.make_opsetid(domain, 1))
    issues = lint_onnx(model)
    assert len(issues) == 1
    issue = issues[0]
    assert (issue.node, issue.op_type, issue.severity) == ('roi', 'RoIAlign', 'error')
    assert f"'{domain}'" in issue.message and 'plugin' in issue.message


@pytest.mark.parametrize('op_type, outputs, message', [
    ('Unique', ['y'], 'does not support Unique'),
    ('MaxRoiPool', ['y'], 'does not support MaxRoiPool'),
    # the doc's note is passed on
    ('DynamicQuantizeLinear', ['y', 'scale', 'zero_point'], 'model local function'),
    ('NoSuchOp', ['y'], "NoSuchOp is not in TensorRT 10.15's ONNX operator table"),
])
def test_unsupported_op_is_error(op_type, outputs, message):
    issues = lint_onnx(single_node_model(helper.make_node(op_type, ['x'], outputs, name='n')))
    assert [(i.node, i.severity) for i in issues] == [('n', 'error')]
    assert message in issues[0].message


@pytest.mark.parametrize('op_type, inputs, attrs, expected', [
    ('Resize', ['x', '', 's'], {'mode': 'cubic'}, "mode='cubic'.*'nearest', 'linear'"),
    ('Resize', ['x', '', 's'], {'coordinate_transformation_mode': 'tf_crop_and_resize'},
     "coordinate_transformation_mode='tf_crop_and_resize'.*'half_pixel'"),
    ('Resize', ['x', '', 's'], {'antialias': 1}, "antialias=1.*allowed antialias values: 0"),
    ('ScatterND', ['x', 'i', 'x'], {'reduction': 'add'}, "reduction='add'.*'none'"),
    ('TopK', ['x', 'k'], {'sorted': 0}, "sorted=0.*allowed sorted values: 1"),
    ('MaxPool', ['x'], {'kernel_shape': [3, 3], 'dilations': [2, 2]},
     r'dilations=\[2, 2\].*must be one of 1'),
    ('MaxPool', ['x'], {'kernel_shape': [3]}, r'kernel_shape=\[3\].*length 2, 3'),
])
def test_restricted_attribute_is_error(op_type, inputs, attrs, expected):
    inits = [const('s', [1, 1, 2, 2], np.float32), const('i', np.zeros((1, 1))),
             const('k', [5])]
    node = helper.make_node(op_type, inputs, ['y'], name='n', **attrs)
    issues = lint_onnx(single_node_model(node, initializers=inits))
    assert len(errors(issues)) == 1
    error = errors(issues)[0]
    assert error.node == 'n'
    assert re.search(expected, error.message), error.message


def test_unset_attributes_take_allowed_defaults():
    node = helper.make_node('Resize', ['x', '', 's'], ['y'], name='n')  # nearest, half_pixel
    assert lint_onnx(single_node_model(node, initializers=[const('s', [1, 1, 2, 2],
                                                                 np.float32)])) == []


@pytest.mark.parametrize('k, n_errors', [(1000, 0), (3839, 0), (3840, 1), (5000, 1)])
def test_topk_k_must_be_below_3840(k, n_errors):
    node = helper.make_node('TopK', ['x', 'k'], ['y', 'i'], name='topk', axis=-1)
    issues = lint_onnx(single_node_model(node, initializers=[const('k', [k])]))
    assert len(errors(issues)) == n_errors
    if n_errors:
        assert f"'K' (k) is {k}" in issues[0].message and 'less than 3840' in issues[0].message


def test_computed_axes():
    """ReduceSum axes must be an initializer (error); Unsqueeze axes a build-time constant,
    which TensorRT may fold (warning)."""
    nodes = [helper.make_node('Shape', ['x'], ['shape'], name='shape'),
             helper.make_node('Slice', ['shape', 'one', 'two'], ['axes'], name='axes'),
             helper.make_node('ReduceSum', ['x', 'axes'], ['sum'], name='sum'),
             helper.make_node('Unsqueeze', ['sum', 'axes'], ['y'], name='unsqueeze'),
             helper.make_node('ReduceSum', ['y', 'one'], ['z'], name='sum_const')]
    model = make_model(nodes, [tensor('x')], [tensor('z', shape=None)],
                       [const('one', [1]), const('two', [2])])
    issues = lint_onnx(model)
    assert [(i.node, i.severity) for i in issues] == [('sum', 'error'),
                                                      ('unsqueeze', 'warning')]
    assert 'must be an initializer' in issues[0].message
    assert 'build-time constant' in issues[1].message


def test_constant_node_output_counts_as_initializer():
    nodes = [helper.make_node('Constant', [], ['axes'], value=const('v', [1])),
             helper.make_node('ReduceSum', ['x', 'axes'], ['y'], name='sum')]
    assert lint_onnx(make_model(nodes, [tensor('x')], [tensor('y', shape=None)])) == []


def test_extra_layer_norm_outputs_are_error():
    node = helper.make_node('LayerNormalization', ['x', 'g'], ['y', 'mean'], name='ln')
    issues = lint_onnx(single_node_model(node, initializers=[const('g', np.ones(16),
                                                                   np.float32)]))
    assert [(i.node, i.severity) for i in issues] == [('ln', 'error')]
    assert "['mean']" in issues[0].message


def test_opset_outside_range_is_error():
    issues = lint_onnx(single_node_model(helper.make_node('Relu', ['x'], ['y']), opset=8))
    assert [(i.node, i.severity) for i in issues] == [('<model>', 'error')]
    assert 'opset 8' in issues[0].message and '9 to 24' in issues[0].message


# --- data types ------------------------------------------------------------------------------

@pytest.mark.parametrize('op_type, elem_type, severity, message', [
    ('Softmax', TensorProto.DOUBLE, 'warning', 'casts DOUBLE down to FLOAT'),
    ('Clip', TensorProto.INT64, 'warning', 'documents Clip for FP32, FP16, BF16 only'),
    ('Identity', TensorProto.UINT16, 'error', 'UINT16, which has no TensorRT 10.15 data type'),
])
def test_input_types_outside_the_doc(op_type, elem_type, severity, message):
    node = helper.make_node(op_type, ['x'], ['y'], name='n')
    issues = lint_onnx(single_node_model(node, elem_type=elem_type))
    assert [(i.node, i.severity) for i in issues] == [('n', severity)]
    assert message in issues[0].message


def test_shape_and_index_inputs_are_not_type_checked():
    """INT64 sizes, max_output_boxes_per_class and batch_indices are not data inputs."""
    boxes = helper.make_tensor_value_info('boxes', FLOAT, (1, 100, 4))
    scores = helper.make_tensor_value_info('scores', FLOAT, (1, 1, 100))
    rois = helper.make_tensor_value_info('rois', FLOAT, (10, 4))
    nodes = [helper.make_node('NonMaxSuppression', ['boxes', 'scores', 'max', 'iou', 'thr'],
                              ['keep'], name='nms'),
             helper.make_node('RoiAlign', ['x', 'rois', 'batch'], ['roi'], name='roi_align',
                              output_height=7, output_width=7),
             helper.make_node('Resize', ['roi', '', '', 'sizes'], ['y'], name='resize')]
    inits = [const('max', [100]), const('iou', [0.5], np.float32),
             const('thr', [0.05], np.float32), const('batch', np.zeros(10)),
             const('sizes', [10, 8, 14, 14])]
    model = make_model(nodes, [tensor('x'), boxes, scores, rois],
                       [tensor('y', shape=None), helper.make_tensor_value_info(
                           'keep', TensorProto.INT64, None)], inits)
    assert lint_onnx(model) == []


# --- subgraphs and functions -----------------------------------------------------------------

def test_if_subgraph_nodes_are_checked():
    out = helper.make_tensor_value_info('branch_out', FLOAT, None)
    then_branch = helper.make_graph(
        [helper.make_node('Relu', ['x'], ['relu'], name='relu'),
         helper.make_node('Resize', ['relu', '', 's'], ['branch_out'], name='cubic',
                          mode='cubic')], 'then', [], [out])
    else_branch = helper.make_graph(
        [helper.make_node('Unique', ['x'], ['branch_out'], name='unique')], 'else', [], [out])
    nodes = [helper.make_node('If', ['cond'], ['y'], name='if', then_branch=then_branch,
                              else_branch=else_branch)]
    model = make_model(nodes, [tensor('x'), helper.make_tensor_value_info(
        'cond', TensorProto.BOOL, ())], [tensor('y', shape=None)],
        [const('s', [1, 1, 2, 2], np.float32)])
    issues = lint_onnx(model)
    assert sorted((i.graph, i.node, i.severity) for i in issues) == [
        ('if.else_branch', 'unique', 'error'), ('if.then_branch', 'cubic', 'error')]
    assert 'if.then_branch/cubic (Resize)' in format_issues(issues)


def test_local_function_body_is_checked():
    """TensorRT 10 inlines model-local functions, so their bodies are checked, not the call."""
    body = [helper.make_node('Relu', ['a'], ['r']), helper.make_node('Unique', ['r'], ['b'])]
    function = helper.make_function('local', 'Block', ['a'], ['b'], body,
                                    [helper.make_opsetid('', 17)])
    model = make_model([helper.make_node('Block', ['x'], ['y'], name='call', domain='local')],
                       [tensor('x')], [tensor('y', shape=None)], functions=[function])
    model.opset_import.append(helper.make_opsetid('local', 1))
    issues = lint_onnx(model)
    assert [(i.graph, i.node, i.op_type) for i in issues] == [
        ('call:local::Block', 'Unique_1', 'Unique')]


# --- reporting -------------------------------------------------------------------------------

def test_check_tensorrt_compat_raises_listing_all_errors(tmp_path):
    nodes = [helper.make_node('Unique', ['x'], ['u'], name='unique'),
             helper.make_node('RoIAlign', ['u'], ['y'], name='roi', domain='mmcv')]
    path = tmp_path / 'bad.onnx'
    onnx.save(make_model(nodes, [tensor('x')], [tensor('y', shape=None)]), path)
    match = r'2 error\(s\)[\s\S]*unique[\s\S]*mmcv'
    with pytest.raises(TensorRTCompatError, match=match) as info:
        check_tensorrt_compat(path)
    assert isinstance(info.value, ValueError)
    assert [issue.node for issue in info.value.issues] == ['unique', 'roi']


def test_check_tensorrt_compat_returns_warnings():
    issues = check_tensorrt_compat(single_node_model(
        helper.make_node('Softmax', ['x'], ['y'], name='n'), elem_type=TensorProto.DOUBLE))
    assert [issue.severity for issue in issues] == ['warning']


def test_format_issues():
    issues = [LintIssue('a', 'Unique', 'error', 'unsupported'),
              LintIssue('b', 'Softmax', 'warning', 'double', graph='if.then_branch')]
    assert format_issues(issues).splitlines() == [
        'error: a (Unique): unsupported',
        'warning: if.then_branch/b (Softmax): double',
        'TensorRT lint: 1 error(s), 1 warning(s)']
    assert format_issues([]) == 'TensorRT lint: no issues'


# -- per TensorRT version -------------------------------------------------------------
def _one_node_model(node, inputs, outputs, initializers=(), opset=17):
    graph = helper.make_graph([node], 'g', inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid('', opset)])


def test_tables_per_version_and_which_one_an_install_uses():
    from trtvit_dense.deploy.backends.tensorrt import SUPPORTED_VERSIONS
    from trtvit_dense.deploy.onnx.lint import OPS_TABLES, table_for
    assert set(OPS_TABLES) == {'10.0', '10.15'}
    old, new = load_ops_table(version='10.0'), load_ops_table(version='10.15')
    assert (old['tensorrt_version'], old['opset_range']) == ('10.0', [9, 20])
    assert old['source']['commit'] and new['tensorrt_version'] == '10.15'
    assert old['ops']['Slice']['inputs']['axes'] == dict(index=3, must_be='initializer')
    assert 'INT64' not in old['ops']['Pow']['types'] and 'INT64' in new['ops']['Pow']['types']
    assert [table_for(v) for v in ('10.0.1', '10.8.0.43', '10.15.1.29', '10.16.1.11',
                                   '11.4.0.106')] == ['10.0', '10.0', '10.15', '10.15',
                                                      '10.15']
    # the tables cover the oldest supported version and the newest rules
    assert table_for(SUPPORTED_VERSIONS[0]) == '10.0'
    assert table_for(SUPPORTED_VERSIONS[1]) == '10.15'
    with pytest.raises(ValueError, match="no TensorRT operator table for '9.0'"):
        load_ops_table(version='9.0')


@pytest.mark.parametrize('make, old_error, new_error', [
    # Slice with computed axes: 10.0 wants an initializer, 10.15 takes any
    (lambda: _one_node_model(
        helper.make_node('Slice', ['x', 'starts', 'ends', 'axes'], ['y']),
        [helper.make_tensor_value_info(n, t, s) for n, t, s in (
            ('x', TensorProto.FLOAT, [4, 4]), ('axes', TensorProto.INT64, [1]))],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array([0], np.int64), 'starts'),
         numpy_helper.from_array(np.array([2], np.int64), 'ends')]),
     'axes', None),
    # ScatterND with reduction='none': 10.0 refuses the attribute, 10.15 allows 'none'
    (lambda: _one_node_model(
        helper.make_node('ScatterND', ['x', 'i', 'u'], ['y'], reduction='none'),
        [helper.make_tensor_value_info('x', TensorProto.FLOAT, [4]),
         helper.make_tensor_value_info('i', TensorProto.INT64, [1, 1]),
         helper.make_tensor_value_info('u', TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, None)]),
     'reduction', None),
    # opset 21 is past 10.0's range
    (lambda: _one_node_model(
        helper.make_node('Relu', ['x'], ['y']),
        [helper.make_tensor_value_info('x', TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, None)], opset=21),
     'opsets 9 to 20', None),
])
def test_older_parser_rules_are_stricter(make, old_error, new_error):
    from trtvit_dense.deploy.onnx.lint import lint_versions
    issues = lint_versions(make())
    errors = {v: [str(i) for i in found if i.severity == 'error'] for v, found in issues.items()}
    assert errors['10.15'] == [] and len(errors['10.0']) == 1, errors
    assert old_error in errors['10.0'][0]


@pytest.mark.slow
@pytest.mark.parametrize('case', ['mask_rcnn', 'retinanet', 'upernet'])
def test_every_shipped_graph_parses_on_every_supported_version(case, deployed_toy, tmp_path):
    """The graphs a TensorRT deploy builds (fp32, fp16, int8 for TensorRT by either
    quantizer) of the three models lint clean under the parser rules of TensorRT 10.0
    and 10.15, and the int8 graphs run in ONNX Runtime. The fp32 graph is the one
    tools/deploy.py wrote (conftest's ``deployed_toy``)."""
    from conftest import ROOT, TOY_DEPLOY

    from trtvit_dense.config import load_config
    from trtvit_dense.deploy.config import load_deploy_config
    from trtvit_dense.deploy.onnx.lint import lint_versions
    from trtvit_dense.deploy.quantize.fp16 import convert_to_fp16
    from trtvit_dense.deploy.backends import open_backend
    from trtvit_dense.deploy.quantize.int8 import CalibrationImages
    from trtvit_dense.deploy.quantize.quantizers import QUANTIZERS, quantize_graph
    from trtvit_dense.deploy.verify import normalization
    config, deploy_cfg = TOY_DEPLOY[case]
    cfg = load_config(str(ROOT / config))
    dcfg = load_deploy_config(ROOT / deploy_cfg)
    graphs = {'fp32': deployed_toy(case) / 'deploy' / 'end2end.onnx',
              'fp16': tmp_path / 'fp16.onnx'}
    convert_to_fp16(graphs['fp32'], graphs['fp16'])
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (160, 160, 3), dtype=np.uint8) for _ in range(2)]
    stats = {}
    for quantizer in QUANTIZERS:
        graphs[f'int8 {quantizer}'] = tmp_path / f'int8_{quantizer}.onnx'
        stats[quantizer] = quantize_graph(
            graphs['fp32'], graphs[f'int8 {quantizer}'],
            CalibrationImages(images, dcfg.opt_shape[2:], *normalization(cfg)),
            quantizer=quantizer, target='tensorrt')
        assert stats[quantizer]['qdq_nodes']['quantize'] > 0
        x = rng.standard_normal(dcfg.opt_shape).astype(np.float32)
        outputs = open_backend('onnxruntime', graphs[f'int8 {quantizer}'], threads=1)(x)
        assert outputs and all(np.isfinite(np.asarray(o, float)).all()
                               for o in outputs.values()), quantizer
    # ModelOpt's float part is float16 for TensorRT, the other's float32; neither
    # quantizer rounds what the post-processing reads
    from trtvit_dense.deploy.quantize.int8 import POST_PROCESSING_OPS
    for quantizer, st in stats.items():
        assert not set(POST_PROCESSING_OPS) & set(st['int8_inputs']), (quantizer, st)
    assert stats['modelopt']['float_precision'] == 'fp16'
    assert stats['onnxruntime']['float_precision'] == 'fp32'
    for precision, path in graphs.items():
        for version, issues in lint_versions(path).items():
            errors = [str(i) for i in issues if i.severity == 'error']
            assert errors == [], (precision, version, errors)


@pytest.mark.parametrize('parses, expected', [
    ({'10.0': True, '10.15': True}, ['10.0.1', '11.4.0.106']),
    ({'10.0': False, '10.15': True}, ['10.15', '11.4.0.106']),
    ({'10.0': False, '10.15': False}, []),
    ({'10.0': True, '10.15': False}, []),  # newer rules refuse it: no range
])
def test_expected_tensorrt_range_in_the_manifest(parses, expected):
    from trtvit_dense.deploy.pipeline import expected_tensorrt
    assert expected_tensorrt(parses) == expected
