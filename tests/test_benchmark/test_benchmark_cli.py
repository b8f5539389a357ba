"""tools/benchmark.py end to end on the toy data (tiny: 2 images, 2 iterations), the
resume cache across runs, and tools/analysis/density.py on a small input."""
import json
from pathlib import Path

import pytest
from conftest import toy_args

from tools import benchmark as benchmark_tool
from tools.analysis import density as density_tool
from trtvit_dense.benchmark.measure import Measurer

ROOT = Path(__file__).parents[2]

RETINA = str(ROOT / 'configs/toy/retinanet_trtvit-a_fpn_toy.py')
UPERNET = str(ROOT / 'configs/toy/upernet_trtvit-a_toy.py')
DET_DEPLOY = str(ROOT / 'configs/deploy/detection_dynamic-64x64-448x448.py')
SEG_DEPLOY = str(ROOT / 'configs/deploy/segmentation_dynamic-64x64-512x512.py')


@pytest.mark.slow
def test_benchmark_detection_then_resume(toy_data, tmp_path, capsys, monkeypatch):
    work = tmp_path / 'bench'
    benchmark_tool.main(toy_args(toy_data, work))
    out = capsys.readouterr().out
    assert 'retinanet_trtvit-a_fpn_toy pytorch fp32: compute' in out
    assert sorted(p.name for p in work.iterdir()) == [
        'cache', 'checkpoints', 'deploy', 'images', 'pareto.png', 'report.csv',
        'report.json', 'report.md']
    rows = json.loads((work / 'report.json').read_text())['rows']
    assert [(r['backend'], r['precision']) for r in rows] == [('pytorch', 'fp32'),
                                                              ('onnxruntime', 'fp32')]
    for r in rows:
        assert r['compute_opt']['shape'] == [1, 3, 160, 160]  # the toy profile's opt
        assert r['e2e_opt']['shape'] == [1, 3, 160, 160]      # the image made for it
        assert r['compute_opt']['count'] == 2 and r['e2e_opt']['count'] == 2
        assert set(r['e2e_opt']['stages_ms']) == {'decode', 'pre', 'model', 'post'}
        assert 0 < r['e2e_opt']['host_fraction'] < 1
        assert r['data']['images'] == 2 and r['data']['dataset_size'] == 4
        assert r['weights'] == 'random (seed 0)' and r['params_m'] > 1 and r['gmacs'] > 0
        assert r['environment']['cpu_count'] >= 1 and r['environment']['onnxruntime']
    # the same predictions from both backends: the same accuracy
    assert rows[0]['accuracy']['bbox_mAP'] == pytest.approx(rows[1]['accuracy']['bbox_mAP'],
                                                            abs=0.05)
    assert rows[1]['deploy']['verify_passed'] is True
    assert rows[0]['speedup_e2e'] == 1.0 and rows[1]['speedup_e2e'] > 0

    # the same command again measures nothing
    def refuse(*args, **kwargs):
        raise AssertionError('a cached measurement was recomputed')
    for name in ('measure_compute', 'measure_e2e_opt', 'measure_data'):
        monkeypatch.setattr(Measurer, name, refuse)
    benchmark_tool.main(toy_args(toy_data, work))
    again = json.loads((work / 'report.json').read_text())['rows']
    assert [r['compute_opt'] for r in again] == [r['compute_opt'] for r in rows]

    # an interrupted run (one measurement missing) measures only what is missing
    monkeypatch.undo()
    missing = sorted((work / 'cache').glob('data-*.json'))[0]
    missing.unlink()
    for name in ('measure_compute', 'measure_e2e_opt'):
        monkeypatch.setattr(Measurer, name, refuse)
    benchmark_tool.main(toy_args(toy_data, work))
    assert missing.is_file()


@pytest.mark.slow
def test_benchmark_segmentation_static_and_paired(toy_data, tmp_path, capsys):
    ade = toy_data / 'toy_ade' / 'ADEChallengeData2016'
    work = tmp_path / 'bench'
    benchmark_tool.main(['--model', UPERNET, '--backends', 'onnxruntime', '--deploy-cfg',
                         SEG_DEPLOY, '--num-images', '2', '--iters', '2', '--warmup-s', '0',
                         '--with-static', '--paired', '--no-progress', '--work-dir', str(work),
                         '--cfg-options', f'test_dataloader.dataset.data_root={ade}'])
    md = (work / 'report.md').read_text()
    assert 'Dynamic vs static graph' in md and 'PyTorch eager vs deployed' in md
    row = json.loads((work / 'report.json').read_text())['rows'][0]
    assert row['accuracy']['mIoU'] >= 0 and row['speedup_e2e'] is None  # no PyTorch row
    assert row['static']['dynamic_over_static'] > 0
    assert row['paired']['speedup_e2e'] > 0 and row['paired']['pytorch']['count'] == 2
    static_manifest = json.loads(
        (Path(row['static']['model_file']).parent / 'manifest.json').read_text())
    assert static_manifest['deploy_config']['profile']['min_shape'] == [1, 3, 160, 160]


def test_benchmark_bad_inputs(tmp_path, toy_data, capsys):
    with pytest.raises(SystemExit, match="config file 'nope.py' does not exist"):
        benchmark_tool.main(['--model', 'nope.py', '--work-dir', str(tmp_path)])
    with pytest.raises(SystemExit, match='pass --device cuda'):
        benchmark_tool.main(['--model', RETINA, '--backends', 'tensorrt',
                             '--work-dir', str(tmp_path)])
    with pytest.raises(SystemExit, match='two deploy configs for detection'):
        benchmark_tool.main(['--model', RETINA, '--deploy-cfg', DET_DEPLOY, DET_DEPLOY,
                             '--work-dir', str(tmp_path)])
    with pytest.raises(SystemExit):
        benchmark_tool.main(['--work-dir', str(tmp_path)])  # no model
    assert 'give --model' in capsys.readouterr().err
    assert not (tmp_path / 'report.json').exists()


@pytest.mark.slow
@pytest.mark.parametrize('backend', ['pytorch', 'onnxruntime'])
def test_density_tool(tmp_path, backend, capsys):
    density_tool.main(['--backend', backend, '--sizes', '64x96', '--iters', '1',
                       '--warmup-s', '0', '--out-dir', str(tmp_path)])
    result = json.loads((tmp_path / 'density.json').read_text())
    rows = result['rows']
    # 3 block types x 4 stages, 4 stages, the backbone
    assert len(rows) == 17 and not any(r['skipped'] for r in rows)
    assert all(r['latency_ms'] > 0 and r['gflop_per_s'] > 0 for r in rows)
    assert result['peak']['gflop_per_s'] > 0
    assert (tmp_path / 'density.png').read_bytes()[:4] == b'\x89PNG'
    assert '| 64x96 | backbone |' in (tmp_path / 'density.md').read_text()
