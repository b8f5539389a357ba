"""Shared fixtures and helpers: the real sample data beside the checkout, small toy
datasets, seeded random checkpoints, the toy benchmark command, killing a process, and
building an expensive artefact once for the whole run (:func:`built_once`)."""
import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
import torch
from filelock import FileLock

ROOT = Path(__file__).parents[1]
SHARED_DATA = Path(os.environ.get('TRTVIT_SHARED_DATA') or ROOT.parent / 'shared' / 'data')


def pytest_configure(config):
    """Under pytest-xdist (``make test`` runs two workers on two cores) each worker gets
    its share of the cores: one OpenMP pool per core at most, inherited by the tools the
    tests start, since two pools of two threads on two cores wait on each other's time
    slices."""
    # nothing is downloaded in tests: ImageNet weights by name must be in the cache
    # folder a test sets up (trtvit_dense.models.imagenet)
    os.environ.setdefault('TRTVIT_OFFLINE', '1')
    workers = os.environ.get('PYTEST_XDIST_WORKER_COUNT')
    if workers:
        threads = str(max(1, (os.cpu_count() or 1) // int(workers)))
        os.environ['OMP_NUM_THREADS'] = threads
        torch.set_num_threads(int(threads))


def pytest_collection_modifyitems(session, config, items):
    """Files with the most ``slow`` tests first, each file's tests kept together and in
    order (a stable sort). ``make test`` hands whole files to its two workers in this
    order (``--dist loadfile --no-loadscope-reorder``), so the long ones start at once
    and short files fill the end, instead of one worker finishing a long file alone. The
    order is a scheduling hint only: the tests pass in any order."""
    weight = {}
    for item in items:
        weight[item.path] = weight.get(item.path, 0) + bool(item.get_closest_marker('slow'))
    items.sort(key=lambda item: -weight[item.path])


def pytest_sessionfinish(session, exitstatus):
    """A passing run removes its temporary folders (about 22 GB for the whole suite:
    toy trainings, exported graphs, the ``built_once`` artefacts); a failing run keeps
    them to look at (pytest.ini: only the last run's). Under pytest-xdist the controller
    does it, once every worker has finished: the workers' folders are inside its own.
    Not per test: mmengine's global logger and visualizer keep writing into the work dir
    of the test that created them."""
    if exitstatus != 0 or os.environ.get('PYTEST_XDIST_WORKER'):
        return
    if session.config.option.basetemp:  # a folder the user named is theirs
        return
    factory = getattr(session.config, '_tmp_path_factory', None)
    basetemp = getattr(factory, '_basetemp', None)
    if basetemp is not None:
        shutil.rmtree(basetemp, ignore_errors=True)


def built_once(tmp_path_factory, name: str, build) -> Path:
    """``build(folder)`` run once per test run, even with several xdist workers: the
    first worker to ask builds into ``<run's temp root>/built/<name>`` under a file
    lock, the others wait and reuse the folder; returns the folder. A build that raised
    is not reused: the next caller builds it again (and fails the same way)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get('PYTEST_XDIST_WORKER'):
        root = root.parent  # the workers' temp dirs share this parent within one run
    folder = root / 'built' / name
    folder.parent.mkdir(parents=True, exist_ok=True)
    done = folder.with_name(name + '.done')
    with FileLock(str(folder) + '.lock'):
        if not done.is_file():
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


@pytest.fixture(scope='session')
def shared_data():
    """``shared_data(name)`` is ``../shared/data/<name>``, or skips the test saying so."""

    def get(name: str) -> Path:
        path = SHARED_DATA / name
        if not path.is_dir():
            pytest.skip(f'no shared data: {path} is absent (set TRTVIT_SHARED_DATA)')
        return path

    return get


@pytest.fixture(scope='session')
def toy_data(tmp_path_factory):
    """Small toy COCO and ADE20K datasets (8 train / 4 val images each) and a toy
    ImageNet (10 train / 8 val)."""
    from trtvit_dense.datasets import make_toy_ade, make_toy_coco, make_toy_imagenet
    root = tmp_path_factory.mktemp('toy')
    make_toy_coco(root / 'toy_coco', num_train=8, num_val=4, seed=0)
    make_toy_ade(root / 'toy_ade', num_train=8, num_val=4, seed=0)
    make_toy_imagenet(root / 'toy_imagenet', num_train=10, num_val=8, seed=0)
    return root


def kill_when(proc, ready, what: str, timeout: float = 240):
    """SIGKILL the subprocess ``proc`` as soon as ``ready()`` holds (polled every 50 ms);
    fails the test if ``proc`` ends first or ``what`` takes longer than ``timeout`` s."""
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            assert proc.poll() is None, f'the process ended before {what}'
            assert time.monotonic() < deadline, f'no {what} within {timeout} s'
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    return proc


def save_checkpoint(config: str, path: Path, seed: int = 0) -> Path:
    """A checkpoint as mmengine writes it, with seeded random weights of ``config`` (a
    path relative to the checkout)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from trtvit_dense.registry import MODELS
    cfg = Config.fromfile(str(ROOT / config))
    init_default_scope(cfg.default_scope)
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    torch.save(dict(state_dict=model.state_dict(), meta=dict(seed=seed)), path)
    return path


def read_test_metrics(work_dir: Path) -> dict:
    """The metrics ``tools/test.py`` wrote into ``work_dir`` (mmengine's
    ``<timestamp>/<timestamp>.json``)."""
    return json.loads(next(Path(work_dir).glob('*/*.json')).read_text())


class FixedBackend:
    """A backend that returns the same outputs for any input (verification tests)."""
    name = 'fixed'

    def __init__(self, outputs: dict):
        self.outputs = outputs

    def __call__(self, x):
        return self.outputs


BENCH_RETINA = 'configs/toy/retinanet_trtvit-a_fpn_toy.py'
BENCH_DET_DEPLOY = 'configs/deploy/detection_dynamic-64x64-448x448.py'


def toy_args(toy_data, work_dir, *extra):
    """tools/benchmark.py arguments: the toy RetinaNet (random weights) on two toy
    validation images, two timed iterations."""
    coco = toy_data / 'toy_coco'
    return ['--model', str(ROOT / BENCH_RETINA), '--deploy-cfg', str(ROOT / BENCH_DET_DEPLOY),
            '--num-images', '2', '--iters', '2', '--warmup-s', '0', '--no-progress',
            '--work-dir', str(work_dir),
            '--cfg-options', f'test_dataloader.dataset.data_root={coco}/',
            f'test_evaluator.ann_file={coco}/annotations/instances_val.json',
            'model.test_cfg.score_thr=0.0', *extra]


# The toy models of every dense task with their toy deploy profiles (random weights).
TOY_DEPLOY = {
    'mask_rcnn': ('configs/toy/mask-rcnn_trtvit-a_fpn_toy.py',
                  'configs/deploy/detection_dynamic-64x64-448x448.py'),
    'retinanet': ('configs/toy/retinanet_trtvit-a_fpn_toy.py',
                  'configs/deploy/detection_dynamic-64x64-448x448.py'),
    'upernet': ('configs/toy/upernet_trtvit-a_toy.py',
                'configs/deploy/segmentation_dynamic-64x64-512x512.py'),
}


def verification_images(case: str, toy_data: Path) -> list[str]:
    """Real photos for the verification of ``case`` when the shared data is there (COCO128
    for the detectors, the ADE20K sample for UPerNet), else the toy validation images."""
    shared = SHARED_DATA / ('ade_sample/images/validation' if case == 'upernet'
                            else 'coco128/train2017')
    if shared.is_dir():
        return [str(shared)]
    if case == 'upernet':
        return [str(toy_data / 'toy_ade/ADEChallengeData2016/images/validation')]
    return [str(toy_data / 'toy_coco/val')]


@pytest.fixture(scope='session')
def deployed_toy(tmp_path_factory, toy_data):
    """``deployed_toy(case)``: a folder holding ``model.pth`` (seeded random weights of
    the toy ``case`` config), ``deploy/`` (what ``tools/deploy.py`` wrote for it with the
    toy profile, verified at the profile's six shapes) and ``deploy.log`` (what the tool
    printed); made once per test run and shared by the deploy, lint, test-tool and
    inference tests."""
    import contextlib
    import io

    def build(case: str, folder: Path) -> None:
        from tools import deploy as deploy_tool
        config, deploy_cfg = TOY_DEPLOY[case]
        ckpt = save_checkpoint(config, folder / 'model.pth')
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            deploy_tool.main([str(ROOT / config), str(ckpt), '--deploy-cfg',
                              str(ROOT / deploy_cfg), '--work-dir', str(folder / 'deploy'),
                              '--images', *verification_images(case, toy_data)])
        (folder / 'deploy.log').write_text(printed.getvalue())

    def get(case: str) -> Path:
        return built_once(tmp_path_factory, f'deployed_{case}',
                          lambda folder: build(case, folder))

    return get


def coco_semseg_as_user_layout(root: Path, out: Path, images: int | None = None) -> tuple:
    """coco128_semseg in the user layout (the first ``images`` images, default all):
    images/ (links), labels/ remapped from COCO panoptic ids to 0..132 in id order (0 =
    unlabelled -> 255), classes.txt; returns the classes."""
    import cv2
    import numpy as np
    root = Path(root).resolve()
    categories = sorted(json.loads((root / 'panoptic_val2017.json').read_text())['categories'],
                        key=lambda c: c['id'])
    lut = np.full(256, 255, np.uint8)
    for index, cat in enumerate(categories):
        lut[cat['id']] = index
    (out / 'images').mkdir(parents=True)
    (out / 'labels').mkdir()
    (out / 'classes.txt').write_text('\n'.join(c['name'] for c in categories) + '\n')
    for image in sorted((root / 'images/val2017').glob('*.jpg'))[:images]:
        (out / 'images' / image.name).symlink_to(image)
        mask = cv2.imread(str(root / 'masks/val2017' / f'{image.stem}.png'), cv2.IMREAD_UNCHANGED)
        cv2.imwrite(str(out / 'labels' / f'{image.stem}.png'), lut[mask])
    return tuple(c['name'] for c in categories)
