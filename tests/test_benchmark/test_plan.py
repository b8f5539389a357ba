"""Row planning: which model x backend x precision rows run, and the combinations that
are refused before anything is measured."""
from pathlib import Path

import pytest

from trtvit_dense.benchmark import BenchmarkError, BenchmarkOptions, ModelSpec, plan_rows

ROOT = Path(__file__).parents[2]
RETINA = str(ROOT / 'configs/toy/retinanet_trtvit-a_fpn_toy.py')
UPERNET = str(ROOT / 'configs/toy/upernet_trtvit-a_toy.py')


def test_checkpoint_rows_cover_backends_and_precisions(tmp_path):
    ckpt = tmp_path / 'm.pth'
    ckpt.write_bytes(b'x')
    rows = plan_rows([ModelSpec(RETINA, str(ckpt)), ModelSpec(UPERNET)],
                     BenchmarkOptions(backends=('pytorch', 'onnxruntime'),
                                      precisions=('fp32', 'fp16')))
    got = [(r.spec.display_name, r.backend, r.precision) for r in rows]
    # PyTorch is the fp32 eager baseline: one row per model
    assert got == [('retinanet_trtvit-a_fpn_toy', 'pytorch', 'fp32'),
                   ('retinanet_trtvit-a_fpn_toy', 'onnxruntime', 'fp32'),
                   ('retinanet_trtvit-a_fpn_toy', 'onnxruntime', 'fp16'),
                   ('upernet_trtvit-a_toy', 'pytorch', 'fp32'),
                   ('upernet_trtvit-a_toy', 'onnxruntime', 'fp32'),
                   ('upernet_trtvit-a_toy', 'onnxruntime', 'fp16')]
    assert rows[0].source == str(ckpt) and rows[3].source is None


def test_deployed_file_runs_on_its_backend_only(tmp_path):
    onnx_file = tmp_path / 'end2end.onnx'
    onnx_file.write_bytes(b'x')
    rows = plan_rows([ModelSpec(RETINA, str(onnx_file), name='deployed')],
                     BenchmarkOptions(backends=('pytorch', 'onnxruntime')))
    assert [(r.backend, r.precision, r.source) for r in rows] == [
        ('onnxruntime', 'fp32', str(onnx_file))]


def test_missing_config_is_refused():
    from trtvit_dense.apis import ConfigError
    with pytest.raises(ConfigError, match="config file 'configs/nope.py' does not exist"):
        plan_rows([ModelSpec('configs/nope.py')], BenchmarkOptions())


@pytest.mark.parametrize('specs, options, match', [
    ([ModelSpec(RETINA, 'ONNX')], BenchmarkOptions(backends=('pytorch', )),
     'is a onnxruntime model; add onnxruntime'),
    ([ModelSpec(RETINA)], BenchmarkOptions(backends=('tensorrt', )), 'pass --device cuda'),
    ([ModelSpec(RETINA)], BenchmarkOptions(backends=('openvino', )), 'backends must be'),
    ([ModelSpec(RETINA)], BenchmarkOptions(precisions=('int4', )), 'precisions must be'),
    ([ModelSpec(RETINA)], BenchmarkOptions(num_images=0), 'num-images must be >= 1'),
    ([ModelSpec(RETINA)], BenchmarkOptions(batch=0), r'--batch must be an integer >= 1, got 0'),
    ([ModelSpec(RETINA)], BenchmarkOptions(batch=2.0), r'--batch must be an integer >= 1'),
    ([ModelSpec(RETINA), ModelSpec(RETINA)], BenchmarkOptions(), 'names must be unique'),
    ([ModelSpec(RETINA, 'missing.pth')], BenchmarkOptions(), 'model file not found'),
])
def test_impossible_plans_are_refused(tmp_path, specs, options, match):
    onnx_file = tmp_path / 'end2end.onnx'
    onnx_file.write_bytes(b'x')
    specs = [ModelSpec(s.config, str(onnx_file)) if s.model == 'ONNX' else s for s in specs]
    with pytest.raises(BenchmarkError, match=match):
        plan_rows(specs, options)


def test_batch_must_lie_in_the_profile_of_every_task():
    """--batch is checked against each deploy profile (every task has one)."""
    from trtvit_dense.benchmark.runner import check_batch
    from trtvit_dense.deploy.config import load_deploy_config
    for path, high in (('configs/deploy/detection_dynamic-320x320-1344x1344.py', 2),
                       ('configs/deploy/segmentation_dynamic-256x256-1024x1024.py', 2),
                       ('configs/deploy/classification_dynamic-128x128-384x384.py', 32)):
        dcfg = load_deploy_config(str(ROOT / path))
        check_batch(high, dcfg, 'm')
        with pytest.raises(BenchmarkError, match=rf'--batch {high + 1} is outside the batch '
                           rf'range 1\.\.{high} of the deploy profile of m \(.*'
                           rf'{Path(path).name}\); give a batch in it'):
            check_batch(high + 1, dcfg, 'm')
