"""Test support: TensorRT's real Python API without its runtime libraries.

NVIDIA's bindings wheels (``tensorrt-cu12-bindings``) hold only ``tensorrt.so``, which
needs nine C entry points of ``libnvinfer``/``libnvinfer_plugin``/``libnvonnxparser``.
:func:`build_stubs` compiles stand-ins of those (each returns NULL or 0), so the real
module imports on a machine without TensorRT or a GPU: its classes, enum members,
properties and the pybind11 signatures in their docstrings are TensorRT's own.

No real builder, network or engine can be created without the library, so the driver
(``python tensorrt_api.py WHEEL_DIR STUB_DIR WORK_DIR``, one process per TensorRT
version) hands the project's builder and runtime a ``tensorrt`` module in which

* enums, flags, ``Dims``, ``Logger`` and ``__version__`` are the real ones, and
* every other class is a :class:`StandIn`: it has exactly the members of the real class;
  a call is checked against the real pybind11 signature(s) (argument count, names and
  types; one overload must match, as pybind11 requires) and returns a stand-in of the
  documented return type (or the value :data:`SCENARIO` scripts for it); reading or
  setting a property checks it exists (and is writable) with the documented type.

The driver builds fp32/fp16/int8 engines and runs one through the project's own code,
then runs probes (the same code with one deliberate API misuse each) that must fail, and
prints one JSON report.
"""
from __future__ import annotations

import ctypes
import importlib
import json
import re
import subprocess
import sys
import types
from pathlib import Path

LIBRARIES = {  # soname stem -> the C entry points the bindings need from it
    'libnvinfer': ('void *createInferBuilder_INTERNAL(void *a, int b)',
                   'void *createInferRefitter_INTERNAL(void *a, void *b, int c)',
                   'void *createInferRuntime_INTERNAL(void *a, int b)',
                   'void *getBuilderPluginRegistry(int a)',
                   'void *getPluginRegistry(void)'),
    'libnvinfer_plugin': ('int initLibNvInferPlugins(void *a, const char *b)', ),
    'libnvonnxparser': ('void *createNvOnnxParser_INTERNAL(void *a, void *b, int c)',
                        'void *createNvOnnxParserRefitter_INTERNAL(void *a, void *b, int c)',
                        'int getNvOnnxParserVersion(void)'),
}


def build_stubs(major: int, out_dir: Path, cc: str = 'cc') -> Path:
    """Compile ``libnvinfer.so.<major>`` & co. (NULL/0-returning entry points) into
    ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for stem, functions in LIBRARIES.items():
        source = out_dir / f'{stem}.c'
        body = [f'{f} {{ return 0; }}' for f in functions]
        source.write_text('#include <stddef.h>\n' + '\n'.join(body) + '\n')
        soname = f'{stem}.so.{major}'
        subprocess.run([cc, '-shared', '-fPIC', '-o', str(out_dir / soname),
                        f'-Wl,-soname,{soname}', str(source)], check=True)
    return out_dir


def import_bindings(wheel_dir: Path, stub_dir: Path):
    """The real ``tensorrt_bindings`` module of an unpacked wheel, its libraries stubbed."""
    for lib in sorted(stub_dir.glob('lib*.so.*')):
        ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)
    sys.path.insert(0, str(wheel_dir))
    return importlib.import_module('tensorrt_bindings')


# -- pybind11 signatures ------------------------------------------------------------------

_SIGNATURE = re.compile(r'^(?:\d+\. )?(\w+)?\((.*)\) -> (.+)$')


def _split_top(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in '[(<{':
            depth += 1
        elif ch in '])>}':
            depth -= 1
        elif ch == ',' and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    if text[start:].strip():
        parts.append(text[start:].strip())
    return parts


def signatures(doc: str | None) -> list[tuple[list[tuple[str, str, bool]], str]]:
    """``[(params, return_type)]`` of each overload in a pybind11 docstring; a param is
    ``(name, type, has_default)``; the generic ``(*args, **kwargs)`` header is skipped."""
    found = []
    for line in (doc or '').splitlines():
        match = _SIGNATURE.match(line.strip())
        if not match or '*args' in match.group(2):
            continue
        params = []
        for part in _split_top(match.group(2)):
            name, _, rest = part.partition(': ')
            kind, _, default = rest.partition(' = ')
            params.append((name.strip(), kind.strip(), bool(default)))
        found.append((params, match.group(3).strip()))
    return found


class APIError(TypeError):
    """A use of the TensorRT API that the real bindings would refuse."""


class Checker:
    """Checks values against pybind11 type names of the real module ``real``."""

    def __init__(self, real):
        self.real = real
        self.unchecked: set[str] = set()

    def cls(self, name: str):
        for prefix in ('tensorrt_bindings.tensorrt.', 'tensorrt.tensorrt.', 'tensorrt.'):
            if name.startswith(prefix):
                return getattr(self.real, name[len(prefix):], None)
        return None

    # the type names newer pybind11 versions write for the same casters
    ALIASES = {'typing.SupportsInt': 'int', 'typing.SupportsFloat': 'float',
               'typing_extensions.Buffer': 'buffer', 'collections.abc.Buffer': 'buffer',
               'typing_extensions.CapsuleType': 'capsule', 'types.CapsuleType': 'capsule',
               'typing.Any': 'object'}

    def accepts(self, kind: str, value) -> bool:
        kind = self.ALIASES.get(kind, kind)
        inner = re.fullmatch(r'(?:typing\.)?(?:List|Sequence)\[(.+)\]', kind)
        if inner:
            return isinstance(value, (list, tuple)) and all(
                self.accepts(inner.group(1), v) for v in value)
        optional = re.fullmatch(r'(?:typing\.)?Optional\[(.+)\]', kind)
        if optional:
            return value is None or self.accepts(optional.group(1), value)
        simple = {
            'int': lambda v: isinstance(v, int) and not isinstance(v, bool),
            'float': lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
            'bool': lambda v: isinstance(v, bool),
            'str': lambda v: isinstance(v, str),
            'bytes': lambda v: isinstance(v, (bytes, bytearray, memoryview)),
            'buffer': lambda v: isinstance(v, (bytes, bytearray, memoryview)),
            'tuple': lambda v: isinstance(v, tuple),
            'list': lambda v: isinstance(v, list),
            'object': lambda v: True,
            'None': lambda v: v is None,
            # void* in pybind11: a capsule or any instance of a bound class
            'capsule': lambda v: v is None or isinstance(v, StandIn) or type(v).__module__
            .startswith('tensorrt'),
        }
        if kind in simple:
            return simple[kind](value)
        cls = self.cls(kind)
        if cls is None:
            self.unchecked.add(kind)
            return True
        if isinstance(value, StandIn):
            return issubclass(value._cls, cls)
        if isinstance(value, cls):
            return True
        if cls.__name__.startswith('Dims') and isinstance(value, (tuple, list)):
            # TensorRT's Dims accept tuples and lists of ints (implicit conversion)
            return all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        return False

    def check_call(self, where: str, doc: str | None, args: tuple, kwargs: dict,
                   bound: bool) -> str:
        """The return type of the overload that ``args``/``kwargs`` match; APIError
        listing the signatures when none does."""
        overloads = signatures(doc)
        if not overloads:
            raise APIError(f'{where}: no signature in the real docstring')
        for params, returns in overloads:
            params = params[1:] if bound else params
            if self._matches(params, args, kwargs):
                return returns
        shown = '; '.join(f'({", ".join(f"{n}: {t}" for n, t, _ in p)}) -> {r}'
                          for p, r in overloads)
        raise APIError(f'{where} called with ({", ".join(map(_short, args))}'
                       f'{"".join(f", {k}={_short(v)}" for k, v in kwargs.items())}); '
                       f'the real signatures are {shown}')

    def _matches(self, params, args, kwargs) -> bool:
        if len(args) > len(params):
            return False
        given = dict(zip((p[0] for p in params), args))
        for key, value in kwargs.items():
            if key in given or key not in {p[0] for p in params}:
                return False
            given[key] = value
        for name, kind, has_default in params:
            if name not in given:
                if not has_default:
                    return False
                continue
            if not self.accepts(kind, given[name]):
                return False
        return True


def _short(value) -> str:
    if isinstance(value, StandIn):
        return f'<{value._cls.__name__}>'
    text = repr(value)
    return text if len(text) < 40 else text[:37] + '...'


# -- stand-ins ----------------------------------------------------------------------------

class HostMemory(bytes):
    """``IHostMemory``: the serialized engine or cache, a buffer like the real one."""


def _is_enum(cls) -> bool:
    return isinstance(cls, type) and hasattr(cls, '__members__')


class StandIn:
    """An object of real class ``cls`` whose members are checked against it."""

    def __init__(self, cls, api: 'API', **values):
        object.__setattr__(self, '_cls', cls)
        object.__setattr__(self, '_api', api)
        object.__setattr__(self, '_values', values)

    def __getattr__(self, name):
        cls, api = self._cls, self._api
        where = f'{cls.__name__}.{name}'
        if not hasattr(cls, name):
            raise AttributeError(f'{where} does not exist in TensorRT {api.version}')
        member = getattr(cls, name)
        api.used.add(where)
        if isinstance(member, property):
            returns = api.checker.check_call(where, member.fget.__doc__, (self, ), {},
                                             bound=False)
            return api.value(self, name, (), returns)
        if not callable(member):
            return member

        def call(*args, **kwargs):
            returns = api.checker.check_call(where, member.__doc__, args, kwargs,
                                             bound=True)
            return api.value(self, name, args, returns)
        return call

    def __setattr__(self, name, value):
        cls, api = self._cls, self._api
        where = f'{cls.__name__}.{name}'
        member = getattr(cls, name, None)
        if not isinstance(member, property):
            raise AttributeError(f'{where} is not a property of TensorRT {api.version}')
        if member.fset is None:
            raise AttributeError(f'{where} is read-only in TensorRT {api.version}')
        api.used.add(f'{where}=')
        api.checker.check_call(f'{where}=', member.fset.__doc__, (self, value), {},
                               bound=False)
        self._values[name] = value

    def __bool__(self):
        return True


# What the project's code reads back: values a real network/engine would give for a
# one-input graph with outputs `dets` (float) and `labels` (int32).
ENGINE_IO = ('input', 'dets', 'labels')
PROFILE = ((1, 3, 32, 32), (1, 3, 64, 64), (2, 3, 96, 128))


class API:
    """The ``tensorrt`` module the project's code sees (see the module docstring)."""

    REAL = ('Logger', 'ILogger', 'Dims', '__version__')

    def __init__(self, real):
        self.real = real
        self.version = real.__version__
        self.checker = Checker(real)
        self.used: set[str] = set()

    def module(self) -> types.ModuleType:
        module = types.ModuleType('tensorrt')
        for name in dir(self.real):
            attr = getattr(self.real, name)
            if name in self.REAL or _is_enum(attr) or name.startswith('__'):
                setattr(module, name, attr)
            elif isinstance(attr, type):
                setattr(module, name, self._constructor(attr))
            elif callable(attr):
                setattr(module, name, self._function(name, attr))
            else:
                setattr(module, name, attr)
        return module

    def _constructor(self, cls):
        api = self

        def construct(*args, **kwargs):
            api.used.add(f'{cls.__name__}()')
            api.checker.check_call(f'{cls.__name__}()', cls.__init__.__doc__, args, kwargs,
                                   bound=True)
            return StandIn(cls, api)
        construct.__name__ = cls.__name__
        construct.real = cls
        return construct

    def _function(self, name, function):
        def call(*args, **kwargs):
            self.used.add(f'{name}()')
            returns = self.checker.check_call(f'{name}()', function.__doc__, args, kwargs,
                                              bound=False)
            return self.value(None, name, args, returns)
        return call

    # -- return values --------------------------------------------------------------
    def value(self, owner: StandIn | None, name: str, args: tuple, returns: str):
        if owner is not None and name in owner._values:
            return owner._values[name]
        scripted = SCENARIO.get((owner._cls.__name__ if owner is not None else None, name))
        if scripted is not None:
            return scripted(self, owner, *args)
        return self.default(returns)

    def default(self, returns: str):
        if returns == 'None':
            return None
        if returns == 'bool':
            return True
        if returns in ('int', 'float'):
            return 0
        if returns == 'str':
            return ''
        cls = self.checker.cls(returns)
        if cls is not None and cls.__name__ == 'IHostMemory':
            return HostMemory(b'serialized')
        if cls is not None and not _is_enum(cls):
            return StandIn(cls, self)
        raise APIError(f'no stand-in value for a {returns} (script it in SCENARIO)')


def _tensor(api, name, shape, dtype):
    return StandIn(api.real.ITensor, api, name=name, shape=api.real.Dims(list(shape)),
                   dtype=getattr(api.real.DataType, dtype))


SCENARIO = {
    ('INetworkDefinition', 'num_inputs'): lambda api, net: 1,
    ('INetworkDefinition', 'num_outputs'): lambda api, net: 2,
    ('INetworkDefinition', 'get_input'): lambda api, net, i: _tensor(
        api, 'input', (-1, 3, -1, -1), 'FLOAT'),
    ('INetworkDefinition', 'get_output'): lambda api, net, i: _tensor(
        api, ENGINE_IO[1 + i], (-1, 100, 5) if i == 0 else (-1, 100),
        'FLOAT' if i == 0 else 'INT32'),
    ('OnnxParser', 'num_errors'): lambda api, parser: 0,
    ('ICudaEngine', 'num_io_tensors'): lambda api, engine: len(ENGINE_IO),
    ('ICudaEngine', 'get_tensor_name'): lambda api, engine, i: ENGINE_IO[i],
    ('ICudaEngine', 'get_tensor_mode'): lambda api, engine, name: (
        api.real.TensorIOMode.INPUT if name == 'input' else api.real.TensorIOMode.OUTPUT),
    ('ICudaEngine', 'get_tensor_dtype'): lambda api, engine, name: (
        api.real.DataType.INT32 if name == 'labels' else api.real.DataType.FLOAT),
    ('ICudaEngine', 'get_tensor_profile_shape'): lambda api, engine, name, index: [
        api.real.Dims(list(s)) for s in PROFILE],
    ('IExecutionContext', 'get_tensor_shape'): lambda api, context, name: api.real.Dims(
        [1, 100, 5] if name == 'dets' else [1, 100]),
    ('IBuilderConfig', 'get_flag'): lambda api, config, flag: False,
}


# -- the driver -----------------------------------------------------------------------------

def tiny_graphs(folder: Path) -> dict[str, Path]:
    """One small ONNX graph per precision, as the project's precision checks want them:
    float32 weights, float16 weights, an int8 QDQ graph in TensorRT's scheme."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    graphs = {}
    for precision, kind in (('fp32', np.float32), ('fp16', np.float16)):
        weight = numpy_helper.from_array(np.ones((4, 3, 3, 3), kind), 'w')
        elem = TensorProto.FLOAT if kind is np.float32 else TensorProto.FLOAT16
        graph = helper.make_graph(
            [helper.make_node('Conv', ['input', 'w'], ['dets'])], precision,
            [helper.make_tensor_value_info('input', elem, ['b', 3, 'h', 'w'])],
            [helper.make_tensor_value_info('dets', elem, None)], [weight])
        graphs[precision] = graph
    q = [numpy_helper.from_array(np.ones((4, 3, 3, 3), np.int8), 'wq'),
         numpy_helper.from_array(np.float32(0.1), 's'),
         numpy_helper.from_array(np.int8(0), 'z')]
    graphs['int8'] = helper.make_graph(
        [helper.make_node('QuantizeLinear', ['input', 's', 'z'], ['xq']),
         helper.make_node('DequantizeLinear', ['xq', 's', 'z'], ['x']),
         helper.make_node('DequantizeLinear', ['wq', 's', 'z'], ['w']),
         helper.make_node('Conv', ['x', 'w'], ['dets'])], 'int8',
        [helper.make_tensor_value_info('input', TensorProto.FLOAT, ['b', 3, 'h', 'w'])],
        [helper.make_tensor_value_info('dets', TensorProto.FLOAT, None)], q)
    paths = {}
    for precision, graph in graphs.items():
        path = folder / f'{precision}.onnx'
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)]),
                  str(path))
        paths[precision] = path
    return paths


# (what, the builder/runtime source line, the deliberately wrong line, the TensorRT
# version range it applies to): each must be refused by the real API
PROBES = (
    ('clear_flag with an int instead of a BuilderFlag', 'builder',
     'config.clear_flag(tf32)', 'config.clear_flag(int(tf32))', None),
    ('a misspelt memory pool', 'builder', 'trt.MemoryPoolType.WORKSPACE',
     'trt.MemoryPoolType.WORKSPACES', None),
    ('set_shape without the opt shape', 'builder',
     'profile.set_shape(deploy_cfg.input_name, deploy_cfg.min_shape, deploy_cfg.opt_shape,',
     'profile.set_shape(deploy_cfg.input_name, deploy_cfg.min_shape,', None),
    ("the FP16 builder flag TensorRT 11 removed", 'builder',
     'if precision in (\'fp32\', \'int8\') and tf32 is not None:',
     'config.set_flag(trt.BuilderFlag.FP16)\n    if precision in (\'fp32\', \'int8\') and tf32 is not None:',
     11),
    ('execute_async_v2 with bindings, the API TensorRT 10 removed', 'runtime',
     'self.context.execute_async_v3(stream.cuda_stream)',
     'self.context.execute_async_v2([inp.data_ptr()], stream.cuda_stream)', None),
    ('set_input_shape with the shape first', 'runtime',
     'self.context.set_input_shape(self.input_name, tuple(inp.shape))',
     'self.context.set_input_shape(tuple(inp.shape), self.input_name)', None),
)


def _load_mutated(module, old: str, new: str):
    """A copy of ``module`` with one source line replaced, under the same package."""
    source = Path(module.__file__).read_text()
    if old not in source:
        raise AssertionError(f'probe line not in {module.__name__}: {old!r}')
    copy = types.ModuleType(module.__name__, module.__doc__)
    copy.__dict__.update(__file__=module.__file__, __package__=module.__package__)
    exec(compile(source.replace(old, new, 1), module.__file__, 'exec'),  # noqa: S102
         copy.__dict__)
    return copy


def drive(wheel_dir: Path, stub_dir: Path, work_dir: Path) -> dict:
    real = import_bindings(wheel_dir, stub_dir)
    api = API(real)
    fake = api.module()
    sys.modules['tensorrt'] = fake
    import torch
    torch.cuda.is_available = lambda: True  # import_tensorrt's check; nothing uses a GPU

    from trtvit_dense.deploy.backends.tensorrt import builder, runtime
    from trtvit_dense.deploy.config import DeployConfig
    runtime.DEVICE = 'cpu'  # buffers on the CPU; the calls are what is checked
    runtime.stream_and_events = lambda timed: (_Stream(), _Event(), _Event())
    dcfg = DeployConfig(task='detection', min_shape=PROFILE[0], opt_shape=PROFILE[1],
                        max_shape=PROFILE[2])
    graphs = tiny_graphs(work_dir)
    report = dict(version=api.version, builds={}, run=None, probes={})
    for precision, graph in graphs.items():
        info = builder.build_engine(graph, work_dir / f'{precision}.engine', dcfg,
                                    precision=precision, timing_cache=work_dir / 'cache')
        report['builds'][precision] = dict(strongly_typed=info['strongly_typed'],
                                           tf32=info['tf32'], inputs=info['inputs'],
                                           outputs=info['outputs'])
    engine = runtime.TensorRTBackend(work_dir / 'fp32.engine')
    import numpy as np
    out = engine(np.zeros(PROFILE[1], np.float32))
    seconds = engine.compute_seconds(np.zeros(PROFILE[1], np.float32))
    report['run'] = dict(outputs={k: list(v.shape) for k, v in out.items()},
                         profile=[list(s) for s in (engine.min_shape, engine.max_shape)],
                         seconds=seconds)
    report['used'] = sorted(api.used)
    report['unchecked_types'] = sorted(api.checker.unchecked)
    major = int(api.version.split('.')[0])
    for what, where, old, new, since in PROBES:
        if since is not None and major < since:
            continue
        module = builder if where == 'builder' else runtime
        mutated = _load_mutated(module, old, new)
        if where == 'runtime':
            mutated.DEVICE = 'cpu'
            mutated.stream_and_events = runtime.stream_and_events
        try:
            if where == 'builder':
                mutated.build_engine(graphs['fp32'], work_dir / 'probe.engine', dcfg)
            else:
                mutated.TensorRTBackend(work_dir / 'fp32.engine')(
                    np.zeros(PROFILE[1], np.float32))
        except (AttributeError, TypeError) as e:
            report['probes'][what] = f'{type(e).__name__}: {e}'
        else:
            report['probes'][what] = None
    return report


class _Stream:
    cuda_stream = 0

    def synchronize(self):
        pass


class _Event:
    def record(self, stream):
        pass

    def elapsed_time(self, other):
        return 0.0


if __name__ == '__main__':
    wheel, stubs, work = (Path(p) for p in sys.argv[1:4])
    print(json.dumps(drive(wheel, stubs, work)))
