"""The project's TensorRT builder and runtime against the real Python API of every
supported TensorRT version (tests/test_deploy/tensorrt_api.py says how, without the
TensorRT libraries or a GPU). The bindings wheels are fetched from the package index once
and cached outside the checkout, like the mmcv wheel; without a C compiler or the index
the test skips and says so."""
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import tensorrt_api

ROOT = Path(__file__).parents[2]
# oldest supported 10.x, a mid 10.x, the last 10.x, the first and the latest 11.x
VERSIONS = ('10.0.1', '10.8.0.43', '10.16.1.11', '11.0.0.114', '11.4.0.106')
PACKAGE = 'tensorrt-cu12-bindings'
CACHE = Path(os.environ.get('TRTVIT_WHEEL_CACHE') or
             Path(os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache')
             / 'trtvit-dense' / 'wheels')
# every member of the TensorRT API the builder and the runtime use (36)
USED = {
    'Builder()', 'Builder.build_serialized_network', 'Builder.create_builder_config',
    'Builder.create_network', 'Builder.create_optimization_profile',
    'IBuilderConfig.add_optimization_profile', 'IBuilderConfig.clear_flag',
    'IBuilderConfig.create_timing_cache', 'IBuilderConfig.get_flag',
    'IBuilderConfig.set_memory_pool_limit', 'IBuilderConfig.set_timing_cache',
    'ICudaEngine.create_execution_context', 'ICudaEngine.get_tensor_dtype',
    'ICudaEngine.get_tensor_mode', 'ICudaEngine.get_tensor_name',
    'ICudaEngine.get_tensor_profile_shape', 'ICudaEngine.num_io_tensors',
    'IExecutionContext.execute_async_v3', 'IExecutionContext.get_tensor_shape',
    'IExecutionContext.set_input_shape', 'IExecutionContext.set_tensor_address',
    'INetworkDefinition.get_input', 'INetworkDefinition.get_output',
    'INetworkDefinition.num_inputs', 'INetworkDefinition.num_outputs',
    'IOptimizationProfile.set_shape', 'ITensor.dtype', 'ITensor.name', 'ITensor.shape',
    'ITimingCache.serialize', 'OnnxParser()', 'OnnxParser.parse_from_file', 'Runtime()',
    'Runtime.deserialize_cuda_engine', 'Runtime.engine_host_code_allowed=',
    'init_libnvinfer_plugins()'}


def bindings(version: str, tmp_path: Path) -> Path:
    """The unpacked bindings wheel of ``version`` (downloaded once into the cache)."""
    target = CACHE / f'{PACKAGE}-{version}'
    if (target / 'tensorrt_bindings' / 'tensorrt.so').is_file():
        return target
    download = tmp_path / 'download'
    result = subprocess.run(
        [sys.executable, '-m', 'pip', 'download', '-q', '--no-deps', '--only-binary=:all:',
         '--python-version', '3.11', '--platform', 'manylinux_2_28_x86_64',
         '--platform', 'manylinux_2_17_x86_64', '-d', str(download),
         f'{PACKAGE}=={version}'], capture_output=True, text=True)
    wheels = sorted(download.glob('*.whl'))
    if result.returncode or not wheels:
        pytest.skip(f'{PACKAGE}=={version} could not be downloaded (no package index?): '
                    f'{result.stderr.strip().splitlines()[-1:]}')
    unpacked = tmp_path / 'unpacked'
    with zipfile.ZipFile(wheels[0]) as wheel:
        wheel.extractall(unpacked)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f'.{target.name}.{os.getpid()}'
    shutil.rmtree(staging, ignore_errors=True)
    shutil.move(str(unpacked), staging)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)  # a killed download never leaves a half-filled entry
    return target


@pytest.fixture(scope='module')
def stubs(tmp_path_factory):
    cc = shutil.which('cc') or shutil.which('gcc')
    if cc is None:
        pytest.skip('no C compiler to build the TensorRT library stubs')
    root = tmp_path_factory.mktemp('trt-stubs')
    return {major: tensorrt_api.build_stubs(major, root / str(major), cc) for major in (10, 11)}


def drive(version: str, stubs: dict, tmp_path: Path) -> dict:
    wheel = bindings(version, tmp_path)
    work = tmp_path / 'work'
    work.mkdir()
    major = int(version.split('.')[0])
    result = subprocess.run(
        [sys.executable, '-W', 'ignore', str(Path(tensorrt_api.__file__)), str(wheel),
         str(stubs[major]), str(work)], capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, 'PYTHONPATH': str(ROOT)})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize('version', VERSIONS)
def test_builder_and_runtime_fit_the_real_api(version, stubs, tmp_path):
    report = drive(version, stubs, tmp_path)
    major = int(version.split('.')[0])
    assert report['version'] == version
    assert report['unchecked_types'] == []  # every argument type was checked
    assert set(report['used']) == USED
    # the version-gated branch: fp32 networks are strongly typed in 11 only (always)
    assert {p: b['strongly_typed'] for p, b in report['builds'].items()} == dict(
        fp32=major >= 11, fp16=True, int8=True)
    assert report['builds']['fp32']['inputs'] == [
        dict(name='input', shape=[-1, 3, -1, -1], dtype='FLOAT')]
    assert report['run']['outputs'] == dict(dets=[1, 100, 5], labels=[1, 100])
    assert report['run']['profile'] == [[1, 3, 32, 32], [2, 3, 96, 128]]
    # every deliberate misuse is refused by the real API
    expected = [p[0] for p in tensorrt_api.PROBES if p[4] is None or major >= p[4]]
    assert sorted(report['probes']) == sorted(expected)
    assert [what for what, error in report['probes'].items() if not error] == []


def test_signature_parser_and_type_checks():
    """The parts of the check that need no TensorRT: pybind11 docstrings parse into
    overloads, and values are accepted or refused by type name."""
    doc = ('set_input_shape(*args, **kwargs)\nOverloaded function.\n\n'
           '1. set_input_shape(self: tensorrt.tensorrt.IExecutionContext, name: str, '
           'shape: tuple) -> bool\n\n2. set_input_shape(self: tensorrt.tensorrt.'
           'IExecutionContext, name: str, shape: typing.List[int] = []) -> bool\n')
    assert tensorrt_api.signatures(doc) == [
        ([('self', 'tensorrt.tensorrt.IExecutionContext', False), ('name', 'str', False),
          ('shape', 'tuple', False)], 'bool'),
        ([('self', 'tensorrt.tensorrt.IExecutionContext', False), ('name', 'str', False),
          ('shape', 'typing.List[int]', True)], 'bool')]
    checker = tensorrt_api.Checker(real=object())
    assert checker.check_call('f', doc, ('input', (1, 3)), {}, bound=True) == 'bool'
    assert checker.check_call('f', doc, ('input', ), {}, bound=True) == 'bool'  # default
    with pytest.raises(tensorrt_api.APIError, match=r"f called with \(\(1, 3\), 'input'\)"):
        checker.check_call('f', doc, ((1, 3), 'input'), {}, bound=True)
    with pytest.raises(tensorrt_api.APIError):
        checker.check_call('f', doc, ('input', [1.5]), {}, bound=True)
    with pytest.raises(tensorrt_api.APIError):
        checker.check_call('f', doc, ('input', ), dict(size=(1, )), bound=True)
    assert checker.accepts('typing.SupportsInt', 3) and not checker.accepts('int', True)
