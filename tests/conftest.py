"""Shared fixtures: the real sample data beside the checkout and small toy datasets."""
import os
import signal
import time
from pathlib import Path

import pytest

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
    """Small toy COCO and ADE20K datasets (8 train / 4 val images each)."""
    from trtvit_dense.datasets import make_toy_ade, make_toy_coco
    root = tmp_path_factory.mktemp('toy')
    make_toy_coco(root / 'toy_coco', num_train=8, num_val=4, seed=0)
    make_toy_ade(root / 'toy_ade', num_train=8, num_val=4, seed=0)
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
