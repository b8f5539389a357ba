"""Shared fixtures and helpers: the real sample data beside the checkout, small toy
datasets, seeded random checkpoints, the toy benchmark command and killing a process."""
import os
import signal
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).parents[1]
SHARED_DATA = Path(os.environ.get('TRTVIT_SHARED_DATA') or ROOT.parent / 'shared' / 'data')


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
