"""Report schema and writers (json/csv/md/png), Pareto front, speed-ups and the
backbone comparison table, on synthetic rows."""
import csv
import json

import pytest

from trtvit_dense.benchmark.compare import compare_specs, compare_table
from trtvit_dense.benchmark.report import (ROW_KEYS, STAT_KEYS, add_speedups,
                                           format_time_table, pareto_front, validate_row,
                                           write_reports)


def stats(mean):
    return dict(count=5, mean_ms=mean, median_ms=mean, p90_ms=mean * 1.1, p95_ms=mean * 1.2,
                p99_ms=mean * 1.3, min_ms=mean * 0.9, max_ms=mean * 1.4,
                throughput=1e3 / mean)


def make_row(name, backend, e2e, compute, acc, task='detection', backbone='TRT-ViT-A',
             config='configs/retinanet/retinanet_trtvit-a_fpn_1x_coco.py'):
    metric = 'bbox_mAP' if task == 'detection' else 'mIoU'
    return dict(
        name=name, task=task, config=config, backbone=backbone, model_file='m',
        weights='random (seed 0)', backend=backend, precision='fp32', device='cpu',
        params_m=30.0, gmacs=100.0,
        profile=dict(min_shape=[1, 3, 64, 64], opt_shape=[1, 3, 224, 224],
                     max_shape=[1, 3, 448, 448]),
        compute_opt=dict(stats(compute), shape=[1, 3, 224, 224]),
        e2e_opt=dict(stats(e2e), shape=[1, 3, 224, 224], host_fraction=0.05,
                     stages_ms=dict(decode=1, pre=1, model=e2e - 3, post=1)),
        data=dict(images=4, e2e=stats(e2e), model=stats(compute)),
        accuracy={} if acc is None else {metric: acc},
        speedup_e2e=None, speedup_compute=None,
        environment=dict(cpu='Test CPU', cpu_count=2, threads=2, torch='2', onnxruntime='1'))


@pytest.mark.parametrize('points, expected', [
    ([(10, 50), (20, 60), (15, 40)], [True, True, False]),
    ([(10, 50), (10, 50)], [True, True]),       # ties dominate neither
    ([(10, 50), (10, 40), (5, 30)], [True, False, True]),
    ([(1, 1)], [True]),
])
def test_pareto_front(points, expected):
    assert pareto_front(points) == expected


def test_speedups_are_relative_to_the_pytorch_row_of_the_same_model():
    rows = add_speedups([make_row('a', 'pytorch', 200, 180, 40),
                         make_row('a', 'onnxruntime', 100, 60, 40),
                         make_row('b', 'onnxruntime', 50, 40, 30)])
    assert rows[0]['speedup_e2e'] == pytest.approx(1.0)
    assert rows[1]['speedup_e2e'] == pytest.approx(2.0)
    assert rows[1]['speedup_compute'] == pytest.approx(3.0)
    assert rows[2]['speedup_e2e'] is None  # no PyTorch row for b


def test_validate_row_names_what_is_missing():
    row = make_row('a', 'pytorch', 10, 9, 1)
    validate_row(row)
    del row['accuracy']
    with pytest.raises(ValueError, match=r"'a' lacks \['accuracy'\]"):
        validate_row(row)
    row = make_row('a', 'pytorch', 10, 9, 1)
    del row['e2e_opt']['p99_ms']
    with pytest.raises(ValueError, match=r"e2e_opt lacks \['p99_ms'\]"):
        validate_row(row)


def test_write_reports(tmp_path):
    rows = add_speedups([
        make_row('retina-a', 'pytorch', 200, 180, 40.0),
        make_row('retina-a', 'onnxruntime', 100, 80, 40.1),
        make_row('upernet-a', 'onnxruntime', 50, 45, 41.5, task='segmentation'),
        make_row('untrained', 'onnxruntime', 30, 25, None)])
    paths = write_reports(rows, tmp_path / 'out', extra_md='## extra section')
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == [
        'pareto.png', 'report.csv', 'report.json', 'report.md']
    doc = json.loads(paths['json'].read_text())
    assert doc['version'] == 1 and len(doc['rows']) == 4
    assert all(set(ROW_KEYS) <= set(r) for r in doc['rows'])
    with open(paths['csv'], newline='') as f:
        table = list(csv.DictReader(f))
    assert [r['name'] for r in table] == ['retina-a', 'retina-a', 'upernet-a', 'untrained']
    for k in STAT_KEYS:
        assert f'compute_opt_{k}' in table[0] and f'e2e_opt_{k}' in table[0]
    assert float(table[1]['speedup_e2e']) == pytest.approx(2.0)
    assert table[2]['mIoU'] == '41.5' and table[3]['bbox_mAP'] == ''
    md = paths['md'].read_text()
    assert md.count('| retina-a |') == 2 and '| 2.00x |' in md and '## extra section' in md
    assert 'Test CPU' in md
    assert paths['png'].read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_write_reports_refuses_an_incomplete_row_before_writing(tmp_path):
    row = make_row('a', 'pytorch', 10, 9, 1)
    del row['compute_opt']
    with pytest.raises(ValueError, match='lacks'):
        write_reports([row], tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_compare_table_ratios_and_accuracy_difference():
    r50 = 'configs/retinanet/retinanet_r50_fpn_1x_coco.py'
    rows = [make_row('retina-a', 'onnxruntime', 80, 60, 36.5),
            make_row('retina-r50', 'onnxruntime', 100, 75, 36.0, backbone='ResNet50',
                     config=r50),
            make_row('retina-a', 'pytorch', 160, 150, 36.5),
            make_row('retina-r50', 'pytorch', 200, 100, 36.0, backbone='ResNet50', config=r50)]
    table = compare_table(rows)
    lines = [ln for ln in table.splitlines() if ln.startswith('| retinanet')]
    assert len(lines) == 2  # one TRT-ViT row per backend
    cells = [c.strip() for c in lines[0].split('|')[1:-1]]
    assert cells[:4] == ['retinanet', 'onnxruntime', 'fp32', 'TRT-ViT-A']
    assert cells[6:8] == ['0.80', '0.80'] and cells[-2] == '+0.5'
    assert [c.strip() for c in lines[1].split('|')[1:-1]][7] == '1.50'


def test_compare_table_finds_mmseg_r50_and_names_groups_without_one():
    r50 = 'configs/upernet/upernet_r50_4xb4-160k_ade20k-512x512.py'
    a = 'configs/upernet/upernet_trtvit-a_4xb4-160k_ade20k-512x512.py'
    rows = [make_row('up-a', 'onnxruntime', 90, 80, 40.0, task='segmentation', config=a),
            # mmseg's R50 is ResNetV1c: the baseline is found by its config, not its name
            make_row('up-r50', 'onnxruntime', 100, 100, 41.0, task='segmentation',
                     backbone='ResNetV1c50', config=r50),
            make_row('up-a', 'pytorch', 150, 140, 40.0, task='segmentation', config=a)]
    table = compare_table(rows)
    row = next(ln for ln in table.splitlines() if ln.startswith('| upernet | onnxruntime'))
    assert '| 0.90 | 0.80 | mIoU | 40.0 | 41.0 | -1.0 |' in row
    assert table.splitlines()[-1] == 'No R50 row to compare with for: upernet pytorch fp32'


def test_compare_table_finds_the_toy_r50_by_its_backbone():
    a, r50 = 'configs/toy/mask-rcnn_trtvit-a_fpn_toy.py', 'configs/toy/mask-rcnn_r50_fpn_toy.py'
    rows = [make_row('mr-a', 'onnxruntime', 90, 80, 55.0, config=a),
            make_row('mr-r50', 'onnxruntime', 100, 100, 57.0, backbone='ResNet50', config=r50)]
    row = next(ln for ln in compare_table(rows).splitlines() if ln.startswith('| mask_rcnn'))
    assert '| TRT-ViT-A | 90 | 100 | 0.90 | 0.80 | bbox_mAP | 55.0 | 57.0 | -2.0 |' in row


def test_compare_imagenet_classifiers():
    """--compare imagenet: TRT-ViT a-d, Next-ViT s/b/l and R50 as classifiers (the
    registry's order), top-1 difference; the toy classifiers group as imagenet too."""
    specs = compare_specs('imagenet')
    assert [s.display_name for s in specs] == [f'{b}_8xb128_in1k' for b in (
        'trtvit-a', 'trtvit-b', 'trtvit-c', 'trtvit-d', 'nextvit-s', 'nextvit-b', 'nextvit-l',
        'r50')]
    a, r50 = 'configs/toy/classifier_trtvit-a_toy.py', 'configs/toy/classifier_r50_toy.py'
    for cfg_a, cfg_r50 in ((specs[0].config, specs[-1].config), (a, r50)):
        rows = [make_row('a', 'onnxruntime', 90, 80, 0, task='classification', config=cfg_a),
                make_row('r', 'onnxruntime', 100, 100, 0, task='classification',
                         backbone='ResNet50', config=cfg_r50)]
        rows[0]['accuracy'], rows[1]['accuracy'] = dict(top1=81.5), dict(top1=80.0)
        row = next(ln for ln in compare_table(rows).splitlines() if ln.startswith('| imagenet'))
        assert '| TRT-ViT-A | 90 | 100 | 0.90 | 0.80 | top1 | 81.5 | 80.0 | +1.5 |' in row


def test_the_compare_commands_models_group_by_their_family():
    """Configs the compare command writes (``<prefix>_<backbone>.py``) meet their R50:
    Semantic FPN's ``sem-fpn_`` models among them."""
    rows = [make_row('a', 'onnxruntime', 90, 80, 0, task='segmentation',
                     config='work/configs/sem-fpn_trtvit-a.py'),
            make_row('r', 'onnxruntime', 100, 100, 0, task='segmentation',
                     backbone='ResNetV1c50', config='work/configs/sem-fpn_r50.py')]
    rows[0]['accuracy'], rows[1]['accuracy'] = dict(mIoU=41.0), dict(mIoU=40.0)
    table = compare_table(rows)
    assert 'No R50 row' not in table
    assert next(ln for ln in table.splitlines() if ln.startswith('| semantic_fpn'))


def test_compare_specs(tmp_path):
    (tmp_path / 'retinanet_trtvit-b_fpn_1x_coco.pth').write_bytes(b'x')
    specs = compare_specs('retinanet', ('trtvit-a', 'trtvit-b'), tmp_path)
    assert [s.display_name for s in specs] == ['retinanet_trtvit-a_fpn_1x_coco',
                                               'retinanet_trtvit-b_fpn_1x_coco',
                                               'retinanet_r50_fpn_1x_coco']  # R50 added
    assert specs[0].model is None and specs[1].model.endswith('trtvit-b_fpn_1x_coco.pth')
    assert all(spec.config.endswith('.py') for spec in specs)
    with pytest.raises(ValueError, match='--compare takes one of'):
        compare_specs('yolo')
    with pytest.raises(ValueError, match='unknown backbones'):
        compare_specs('upernet', ('swin-t', ))


def test_time_table_says_where_each_rows_time_went():
    rows = [dict(name='m', backend='onnxruntime', precision='int8', quantizer='modelopt',
                 wall_s=dict(deploy=30.4, timing=2.6, evaluation=5.5, total=39.0)),
            dict(name='m', backend='pytorch', precision='fp32')]  # a report from before
    lines = format_time_table(rows).splitlines()
    assert lines[0] == ('| model | backend | prec | deploy s | timing s | evaluation s '
                        '| row s |')
    assert lines[2] == '| m | onnxruntime | int8 (modelopt) | 30 | 3 | 6 | 39 |'
    assert lines[3] == '| m | pytorch | fp32 | - | - | - | - |'
