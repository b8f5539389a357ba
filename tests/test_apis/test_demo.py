"""The one-command demo: its model list, target checks, step reuse and a tiny run."""
import json
import shutil
from pathlib import Path

import pytest

from trtvit_dense.apis.demo import (DEMO_DEPLOY_CONFIGS, DEMO_MODELS, DEMO_TARGETS, TrainingError,
                                    TrainJob, check_targets, demo_benchmark_options,
                                    run_demo, train_model, train_models)
from trtvit_dense.benchmark import TimingSettings
from trtvit_dense.config import package_config

ROOT = Path(__file__).parents[2]


def test_demo_models_cover_every_task_and_backbone():
    from trtvit_dense.apis import load_config
    seen = set()
    for model in DEMO_MODELS:
        cfg = load_config(model.config)
        head = model.name.split('_')[0]
        backbone = cfg.model.backbone.type
        seen.add((head, backbone))
        # the R50 baselines differ from TRT-ViT-A in the backbone (and its widths) only
        if backbone != 'TRTViT':
            twin = next(m for m in DEMO_MODELS if m.name == f'{head}_trtvit-a')
            ref = load_config(twin.config)
            for key in ('train_cfg', 'optim_wrapper', 'param_scheduler', 'train_dataloader'):
                assert cfg[key] == ref[key], (model.name, key)
    assert seen == {(h, b) for h in ('mask-rcnn', 'retinanet', 'upernet')
                    for b in ('TRTViT', 'ResNet' if h != 'upernet' else 'ResNetV1c')}
    assert set(DEMO_TARGETS) == {m.name for m in DEMO_MODELS if 'trtvit' in m.name}
    for path in DEMO_DEPLOY_CONFIGS.values():
        assert Path(package_config(path)).is_file()


def _row(name, backend, **accuracy):
    return dict(name=name, backend=backend, accuracy=accuracy)


def test_check_targets():
    rows = [_row('mask-rcnn_trtvit-a', 'pytorch', bbox_mAP=50.0, segm_mAP=10.0),
            _row('mask-rcnn_trtvit-a', 'onnxruntime', bbox_mAP=49.9),
            _row('upernet_trtvit-a', 'onnxruntime', aAcc=90.0),
            _row('upernet_r50', 'pytorch', mIoU=1.0)]
    misses = check_targets(rows)
    assert misses == ['mask-rcnn_trtvit-a on onnxruntime: bbox_mAP 49.9 < 50',
                      'upernet_trtvit-a on onnxruntime: mIoU missing < 60']
    assert check_targets(rows[:1]) == []


def tiny_demo_options():
    return demo_benchmark_options(
        num_images=2, progress=False, cfg_options={'model.test_cfg.score_thr': 0.0},
        timing=TimingSettings(warmup_s=0.0, warmup_iters=0, iters=1))


# The demo cut to one backbone, two families, one epoch of two images (two trainings).
TINY_DEMO = dict(families=('retinanet', 'upernet'), backbones=('trtvit-a', ), epochs=1,
                 train_subset=2)


@pytest.fixture(scope='module')
def tiny_demo(tmp_path_factory):
    """One shortened demo run, its two trainings in two worker processes (``jobs=2``, as
    ``make demo``), shared by the tests of this module: the run itself, its reuse and the
    resume of an interrupted training."""
    root = tmp_path_factory.mktemp('tiny_demo')
    lines = []
    result = run_demo(root / 'demo', root / 'data', tiny_demo_options(), on_step=lines.append,
                      jobs=2, **TINY_DEMO)
    return dict(root=root, work=root / 'demo', data=root / 'data', result=result,
                lines=lines)


@pytest.mark.slow
def test_demo_end_to_end_then_reuse(tiny_demo):
    """The demo is the compare command on the toy data: written configs that inherit the
    toy ones, training in two workers, deployment, evaluation on both backends, the
    report; a second run reuses everything."""
    work, data, result, lines = (tiny_demo[k] for k in ('work', 'data', 'result', 'lines'))
    assert (data / 'toy_coco' / 'toy_meta.json').is_file()
    assert (data / 'toy_ade' / 'toy_meta.json').is_file()
    assert [(r['name'], r['backend']) for r in result.rows] == [
        ('retinanet_trtvit-a', 'pytorch'), ('retinanet_trtvit-a', 'onnxruntime'),
        ('upernet_trtvit-a', 'pytorch'), ('upernet_trtvit-a', 'onnxruntime')]
    for row in result.rows:
        assert row['weights'] == next(t['checkpoint'] for t in result.train
                                      if t['name'] == row['name'])
        assert row['model_file'].endswith('.onnx' if row['backend'] == 'onnxruntime'
                                          else '.pth')
        assert row['accuracy'], row  # evaluated on both backends
    written = (work / 'configs' / 'retinanet_trtvit-a.py').read_text()
    assert "_base_ = 'trtvit_dense::toy/retinanet_trtvit-a_fpn_toy.py'" in written
    assert sorted(p.name for p in (work / 'configs').iterdir()) == [
        'deploy_detection.py', 'deploy_segmentation.py', 'retinanet_trtvit-a.py',
        'upernet_trtvit-a.py']
    # two workers of one thread each, their console in their logs
    assert any('training 2 models, 2 at a time with 1 thread(s) each' in line
               for line in lines), lines
    for name in ('retinanet_trtvit-a', 'upernet_trtvit-a'):
        assert 'Saving checkpoint' in (work / 'train' / name / 'training.log').read_text()
    assert [t['name'] for t in result.train] == ['retinanet_trtvit-a', 'upernet_trtvit-a']
    assert not any(t['reused'] for t in result.train)
    # two training steps cannot reach the targets, and the demo says so
    assert result.misses and result.misses[0].startswith('retinanet_trtvit-a on pytorch: ')
    for key in ('md', 'json', 'csv', 'png'):
        assert result.reports[key].is_file()
    report = result.reports['md'].read_text()
    assert 'Missed targets: retinanet_trtvit-a on pytorch' in report
    assert 'retinanet_trtvit-a' in report and 'upernet_trtvit-a' in report
    assert '## The data' in report and '## Next' in report
    # where the benchmark step's time went, per row
    assert '## The benchmark step' in report
    for row in result.rows:
        wall = row['wall_s']
        assert set(wall) == {'deploy', 'timing', 'evaluation', 'total'}, wall
        assert wall['total'] >= wall['deploy'] + wall['timing'] + wall['evaluation'] - 0.3
        assert wall['evaluation'] > 0 and (wall['deploy'] > 0) == (row['backend'] != 'pytorch')
    doc = json.loads(result.reports['json'].read_text())
    assert [t['name'] for t in doc['compare']['train']] == ['retinanet_trtvit-a',
                                                            'upernet_trtvit-a']

    # A second run reuses the trained models and every measurement.
    first = {n: (work / 'train' / n / 'training.json').read_text()
             for n in ('retinanet_trtvit-a', 'upernet_trtvit-a')}
    again_lines = []
    again = run_demo(work, data, tiny_demo_options(), on_step=again_lines.append, **TINY_DEMO)
    assert sum('(reused)' in line for line in again_lines) == 2
    assert [t['reused'] for t in again.train] == [True, True]
    assert {n: (work / 'train' / n / 'training.json').read_text() for n in first} == first
    assert [r['accuracy'] for r in again.rows] == [r['accuracy'] for r in result.rows]


@pytest.mark.slow
def test_train_model_resumes_an_interrupted_run(tiny_demo, tmp_path):
    """A copy of the tiny demo's RetinaNet training folder, made to look interrupted."""
    trained = tiny_demo['work'] / 'train' / 'retinanet_trtvit-a'
    info = json.loads((trained / 'training.json').read_text())
    model = TrainJob(info['name'], info['config'])
    work = tmp_path / 'train'
    shutil.copytree(trained, work)
    checkpoint = work / Path(info['checkpoint']).name
    # an interrupted run: a last checkpoint but no completion record
    (work / 'last_checkpoint').write_text(str(checkpoint))
    (work / 'training.json').unlink()
    info2 = train_model(model, work)
    assert info2['resumed'] and not info2['reused']
    assert info2['checkpoint'] == str(checkpoint)
    # a completion record whose checkpoint is gone is not trusted
    checkpoint.unlink()
    (work / 'last_checkpoint').unlink()
    info3 = train_model(model, work)
    assert not info3['reused'] and not info3['resumed'] and Path(info3['checkpoint']).is_file()


def test_a_failing_training_worker_is_named_with_its_log(tmp_path):
    """(Two workers that succeed: test_demo_end_to_end_then_reuse.)"""
    broken = TrainJob('broken', str(tmp_path / 'missing.py'))
    with pytest.raises(TrainingError, match=r'^training broken failed: ConfigError: .*'
                       r'missing\.py.*; see .*broken/training\.log$') as raised:
        train_models([broken], tmp_path / 'train', jobs=2, on_step=lambda line: None)
    assert '\n' not in str(raised.value)


def test_a_training_that_fails_in_process_is_one_line_with_the_log_tail(tmp_path, monkeypatch):
    """One job: the error names the model, the exception and the last line of the log."""
    from trtvit_dense.apis import training
    work = tmp_path / 'train' / 'flaky'
    (work / '20261204_000000').mkdir(parents=True)
    (work / '20261204_000000' / '20261204_000000.log').write_text(
        'Epoch(train) [1][1/2] loss: 1.0\nTraceback (most recent call last):\n'
        '  File "x.py", line 1\nKeyError: \'bbox\'\n\n')

    def crash(model, work_dir, weights=None, gpus=1):
        raise KeyError('bbox')
    monkeypatch.setattr(training, 'train_model', crash)
    with pytest.raises(TrainingError) as raised:
        train_models([TrainJob('flaky', 'c.py')], tmp_path / 'train', jobs=1,
                     on_step=lambda line: None)
    assert str(raised.value) == (f"training flaky failed: KeyError: 'bbox'; see "
                                 f"{work / '20261204_000000' / '20261204_000000.log'}")
    assert training.last_log_line(work / '20261204_000000' / '20261204_000000.log') == \
        "KeyError: 'bbox'"


def test_demo_tool_prints_the_report_and_fails_on_missed_targets(tmp_path, monkeypatch,
                                                                 capsys):
    from tools import demo as demo_tool
    import trtvit_dense.apis.demo as demo_api
    report = tmp_path / 'report.md'
    report.write_text('# the report\n')
    calls = {}

    def fake_run_demo(work_dir, data_dir, options=None, jobs=1, pretrain=False):
        calls.update(work_dir=work_dir, data_dir=data_dir, jobs=jobs,
                     progress=options.progress, pretrain=pretrain)
        train = [dict(name='mask-rcnn_trtvit-a', config='c.py', checkpoint='e.pth')]
        rows = [dict(name='mask-rcnn_trtvit-a', backend='onnxruntime', model_file='m.onnx')]
        return demo_api.DemoResult(rows, dict(md=report), train,
                                   misses=['mask-rcnn_trtvit-a on pytorch: bbox_mAP 1.0 < 50'])

    monkeypatch.setattr(demo_api, 'run_demo', fake_run_demo)
    with pytest.raises(SystemExit, match='accuracy targets missed: mask-rcnn_trtvit-a on '
                       r'pytorch: bbox_mAP 1.0 < 50'):
        demo_tool.main(['--work-dir', str(tmp_path / 'w'), '--jobs', '1', '--no-progress'])
    assert calls == dict(work_dir=str(tmp_path / 'w'), data_dir='data', jobs=1,
                         progress=False, pretrain=False)
    out = capsys.readouterr().out
    assert '# the report' in out and f'report: {report}' in out
    assert 'tools/infer.py c.py e.pth' in out and 'm.onnx' in out


def test_a_training_of_another_config_is_refused_not_reused(tmp_path):
    """A finished (or interrupted) training in the work dir whose config changed since is
    named, not silently reused or resumed."""
    work = tmp_path / 'train'
    work.mkdir()
    (work / 'epoch_5.pth').write_bytes(b'x')
    model = TrainJob('r', str(ROOT / 'configs/toy/retinanet_trtvit-a_fpn_toy.py'))
    (work / 'training.json').write_text(json.dumps(dict(
        name='r', config=model.config, checkpoint=str(work / 'epoch_5.pth'),
        config_sha256='0' * 64)))
    with pytest.raises(TrainingError, match=r'train holds a training of another config than '
                       r'.*retinanet_trtvit-a_fpn_toy\.py \(changed since\); delete'):
        train_model(model, work)
    (work / 'training.json').unlink()
    (work / 'last_checkpoint').write_text(str(work / 'epoch_5.pth'))
    (work / 'config.sha256').write_text('0' * 64 + '\n')
    with pytest.raises(TrainingError, match='holds an interrupted training of another config'):
        train_model(model, work)


@pytest.mark.slow
def test_demo_pretrain_fine_tunes_from_the_toy_classifiers(tmp_path):
    """--pretrain: the compare command on the toy ImageNet first (its own report), then
    the models fine-tuned from the classifier of their backbone (the UPerNet R50 from the
    ResNetV1c one).

    Over a minute: three trainings of one epoch (the demo pretrains both ResNet stems
    when R50 is asked for) and two deploy/verify/benchmark rounds; R50 is the backbone
    whose weights cross a stem layout, which is what this run proves."""
    options = demo_benchmark_options(
        num_images=2, progress=False, timing=TimingSettings(warmup_s=0.0, warmup_iters=0,
                                                            iters=1))
    work = tmp_path / 'demo'
    result = run_demo(work, tmp_path / 'data', options, on_step=lambda line: None,
                      pretrain=True, families=('upernet', ), backbones=('r50', ), epochs=1,
                      train_subset=2)
    assert [t['name'] for t in result.train] == ['classifier_r50', 'classifier_r50-v1c',
                                                 'upernet_r50']
    assert result.train[-1]['backbone_weights'] == result.train[1]['checkpoint']
    assert (work / 'pretrain' / 'report.md').is_file()
    import torch
    converted = next((work / 'train' / 'upernet_r50' / 'pretrained').glob('*_backbone.pth'))
    meta = torch.load(converted, map_location='cpu')['meta']
    assert meta['layout'] == 'mmpretrain stem -> mmseg/mmdet stem'
    assert meta['source'].endswith('epoch_1.pth') and 'classifier_r50-v1c' in meta['source']
    assert [r['name'] for r in result.rows] == ['upernet_r50', 'upernet_r50']
