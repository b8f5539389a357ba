"""Fuzzing the data check with broken variants of real exports (``defects.py``: COCO128
and coco128_semseg, each defect alone and several at once).

For every variant the check either loads it, with the defect's rule among its findings
and a one-line note, or refuses it with one ``error`` line that ends with the rule's
code; a refused variant leaves nothing beyond the data folder (nothing is written or
trained). Where a defect is repaired or dropped, training on the repaired data and the
evaluation (where an unchecked 2-point polygon crashed pycocotools after training) run:
the smoke tests, one iteration each.
"""
import json
from pathlib import Path

import numpy as np
import pytest

from defects import (BY_NAME, COMBINED_COCO, COMBINED_SEG, DEFECTS, apply, coco_export,
                     seg_export)
from trtvit_dense.datasets import RULES, DataError, DataSpec, read_dataset


def _variants(tmp_path, export):
    made = []

    def make(*names):
        made.append(tmp_path / f'export{len(made)}')
        return apply(export(made[-1]), *names)
    return make


@pytest.fixture
def coco_variant(shared_data, tmp_path):
    """``coco_variant(*defects)``: a fresh COCO128 export with the defects."""
    return _variants(tmp_path, lambda out: coco_export(shared_data('coco128'), out))


@pytest.fixture
def seg_variant(shared_data, tmp_path):
    """``seg_variant(*defects)``: a fresh coco128_semseg export with the defects."""
    return _variants(tmp_path, lambda out: seg_export(shared_data('coco128_semseg'), out))


def spec_of(export) -> DataSpec:
    if export.data is not None:
        return DataSpec('detection', ann_file=str(export.ann_file), images=str(export.images))
    return DataSpec('segmentation', root=str(export.root))


def check(export, out: Path):
    """The data check's verdict: (dataset, None) or (None, error)."""
    try:
        return read_dataset(spec_of(export), out), None
    except DataError as e:
        return None, e


def test_the_generator_covers_enough_defects():
    broken = [d for d in DEFECTS if d.outcome != 'clean']
    assert len(broken) >= 25
    assert {d.rule for d in broken} <= set(RULES)
    assert {d.outcome for d in DEFECTS} == {'repaired', 'dropped', 'refused', 'noted', 'clean'}


def repairs(findings: dict) -> dict:
    return {c: n for c, n in findings.items() if RULES[c].action in ('repaired', 'dropped')}


def test_compressed_rle_runs_are_read_as_pycocotools_writes_them():
    from pycocotools import mask as mask_utils

    from trtvit_dense.datasets.coco import rle_string_runs
    rng = np.random.default_rng(0)
    for _ in range(50):
        h, w = (int(v) for v in rng.integers(1, 80, 2))
        mask = np.asfortranarray((rng.random((h, w)) < rng.random()).astype(np.uint8))
        runs = rle_string_runs(mask_utils.encode(mask)['counts'].decode())
        assert sum(runs) == h * w and min(runs) >= 0 and sum(runs[1::2]) == mask.sum()
    assert rle_string_runs('garbage!!') is None  # 'g' etc. are outside the 64 symbols
    assert rle_string_runs('') == []


def assert_verdict(defect, data, error, base=None):
    """``data``/``error`` is what the defect's rule says must happen to it (``base``: the
    findings of the export without the defect)."""
    if defect.outcome == 'refused':
        assert data is None, f'{defect.name} was loaded: {data.notes}'
        text = str(error)
        assert '\n' not in text and text.endswith(f'[{defect.rule}]'), text
        assert 'Traceback' not in text
        return
    assert error is None, f'{defect.name} was refused: {error}'
    assert all('\n' not in n for n in data.notes)
    if defect.outcome == 'clean':  # nothing repaired or dropped beyond the export's own
        assert repairs(data.findings) == repairs(base), f'{defect.name}: {data.notes}'
        return
    assert data.findings.get(defect.rule, 0) >= 1, (defect.name, data.findings)
    rule = RULES[defect.rule]
    assert any(rule.defect in n for n in data.notes), data.notes
    written = json.loads(Path(data.splits['train']['ann_file']).read_text()) \
        if data.task == 'detection' else None
    if written is not None:  # what the configs read holds only valid entries
        for ann in written['annotations']:
            x, y, w, h = ann['bbox']
            assert w >= 1 and h >= 1 and ann['area'] > 0 and ann['iscrowd'] in (0, 1)
            assert isinstance(ann['id'], int) and isinstance(ann['image_id'], int)


@pytest.mark.parametrize('name', [d.name for d in DEFECTS if d.layout == 'coco'])
def test_each_coco_defect(name, coco_variant, tmp_path):
    defect = BY_NAME[name]
    base = check(coco_variant(), tmp_path / 'base')[0].findings if defect.outcome == 'clean' \
        else None
    data, error = check(coco_variant(name), tmp_path / 'work' / 'data')
    assert_verdict(defect, data, error, base)
    if error is not None:  # nothing written, not even the split files
        assert list((tmp_path / 'work').rglob('*')) == []


@pytest.mark.parametrize('name', [d.name for d in DEFECTS if d.layout == 'segmentation'])
def test_each_label_map_defect(name, seg_variant, tmp_path):
    defect = BY_NAME[name]
    base = check(seg_variant(), tmp_path / 'base')[0].findings if defect.outcome == 'clean' \
        else None
    data, error = check(seg_variant(name), tmp_path / 'work' / 'data')
    assert_verdict(defect, data, error, base)
    if error is not None:
        assert list((tmp_path / 'work').rglob('*')) == []


def test_every_repairable_coco_defect_at_once(coco_variant, tmp_path):
    data, error = check(coco_variant(*COMBINED_COCO), tmp_path / 'data')
    assert error is None, error
    for name in COMBINED_COCO:
        defect = BY_NAME[name]
        if defect.outcome in ('repaired', 'dropped'):
            assert data.findings.get(defect.rule), (name, data.findings)


@pytest.mark.parametrize('names', [
    ('bbox-strings', 'image-id-duplicate'),      # refused whatever else is repaired
    ('image-truncated', 'category-id-unknown'),
    ('polygon-2-points', 'file-listed-twice'),
])
def test_a_refusal_wins_over_repairs(names, coco_variant, tmp_path):
    refused = next(BY_NAME[n] for n in names if BY_NAME[n].outcome == 'refused')
    data, error = check(coco_variant(*names), tmp_path / 'work' / 'data')
    assert_verdict(refused, data, error)


def test_a_refused_export_trains_nothing(coco_variant, tmp_path):
    """Through the compare command: the error is one line, nothing beyond data/."""
    from tools import compare
    export = coco_variant('polygon-2-points', 'image-id-duplicate')
    work = tmp_path / 'work'
    with pytest.raises(SystemExit) as stop:
        compare.main(['--ann-file', str(export.ann_file), '--images', str(export.images),
                      '--recipe', 'toy', '--work-dir', str(work), '--no-progress'])
    message = str(stop.value.code)
    assert message.startswith('error: ') and '\n' not in message
    assert message.endswith('[image-duplicate-id]')
    assert [p for p in work.rglob('*') if p.is_file()] == []


# -- smoke runs: training and evaluation on what the check repaired -----------------------

def smoke_run(data, family: str, work_dir: Path) -> dict:
    """One training iteration and the evaluation on the validation split, through the
    configs the compare command writes."""
    from trtvit_dense.apis.compare import plan_models
    from trtvit_dense.apis.runner import prepare_train_config, train
    from trtvit_dense.config import load_config
    models, _ = plan_models(data, [family], ['trtvit-a'], 'toy', work_dir / 'configs',
                            epochs=1, train_subset=2)
    model = models[0]
    cfg = load_config(model.config)
    if 'max_epochs' in cfg.train_cfg:
        cfg.train_cfg.update(max_epochs=1, val_interval=1)
    else:
        cfg.train_cfg.update(max_iters=1, val_interval=1)
    cfg.train_dataloader.batch_size = 2
    for split in ('train', 'val'):
        cfg[f'{split}_dataloader'].num_workers = 0
        cfg[f'{split}_dataloader'].persistent_workers = False
    cfg.default_hooks.checkpoint.interval = 10**6  # no checkpoint: a smoke run
    if family == 'mask_rcnn':
        # every detection of the barely trained model is kept: with none, mmdet's
        # CocoMetric returns before COCOeval reads the ground truth, the part under test
        cfg.model.test_cfg.rcnn.score_thr = 0.0
    prepare_train_config(cfg, model.config, work_dir=str(work_dir / 'train'))
    runner = train(cfg)
    return runner.message_hub.log_scalars


@pytest.mark.slow
@pytest.mark.parametrize('names', [
    ('polygon-2-points', ),  # the crash of the issue: pycocotools at the evaluation
    tuple(COMBINED_COCO),
])
def test_repaired_coco_exports_train_and_evaluate(names, coco_variant, tmp_path):
    """Over 20 s each: Mask R-CNN (TRT-ViT-A, toy scale) built, one iteration, and the
    COCO bbox + segm evaluation of the validation split."""
    data, error = check(coco_variant(*names), tmp_path / 'data')
    assert error is None, error
    scalars = smoke_run(data, 'mask_rcnn', tmp_path)
    assert 'val/coco/segm_mAP' in scalars and 'val/coco/bbox_mAP' in scalars


@pytest.mark.slow
def test_repaired_label_maps_train_and_evaluate(seg_variant, tmp_path):
    data, error = check(seg_variant(*COMBINED_SEG), tmp_path / 'data')
    assert error is None, error
    assert data.findings.get('label-unreadable') and data.findings.get('image-unreadable')
    scalars = smoke_run(data, 'upernet', tmp_path)
    assert 'val/mIoU' in scalars
