"""Safe loading of mmengine checkpoints under torch's weights_only default."""
import os
import pickle
import re

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner, load_checkpoint

import trtvit_dense  # noqa: F401  (installs the allow-list)
from trtvit_dense.utils import install_safe_globals


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        inputs = torch.stack(inputs)
        out = self.linear(inputs).squeeze(1)
        if mode == 'loss':
            return dict(loss=((out - torch.stack(labels))**2).mean())
        return out


class ToyDataset(torch.utils.data.Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(inputs=torch.tensor([i, 1.0]), labels=torch.tensor(float(i % 2)))


def make_runner(work_dir, max_epochs=1, **kwargs):
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=4),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        default_scope='mmengine',
        log_level='WARNING',
        **kwargs)


@pytest.fixture(scope='module')
def runner_checkpoint(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('runner')
    make_runner(work_dir).train()
    path = work_dir / 'epoch_1.pth'
    assert path.is_file()
    return path


def test_runner_checkpoint_loads_with_weights_only(runner_checkpoint):
    ckpt = torch.load(runner_checkpoint, map_location='cpu', weights_only=True)
    assert set(ckpt) >= {'meta', 'state_dict', 'message_hub', 'optimizer'}
    history = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(history.data[0], np.ndarray) and history.data[0].size > 0


def test_runner_checkpoint_needs_the_allow_list(runner_checkpoint):
    """Without our allow-list, torch refuses the same file (so the test above is real)."""
    torch.serialization.clear_safe_globals()
    try:
        with pytest.raises(pickle.UnpicklingError, match='Weights only load failed'):
            torch.load(runner_checkpoint, map_location='cpu', weights_only=True)
    finally:
        install_safe_globals()


def test_runner_resume_and_load_from(runner_checkpoint, tmp_path):
    runner = make_runner(tmp_path / 'resume', max_epochs=2, resume=True,
                         load_from=str(runner_checkpoint))
    runner.train()
    assert runner.epoch == 2
    assert (tmp_path / 'resume' / 'epoch_2.pth').is_file()


class Exploit:
    """A pickle that would run a shell command when loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


@pytest.mark.parametrize('loader', ['torch.load', 'mmengine.load_checkpoint'])
def test_forbidden_global_is_refused(tmp_path, loader):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'linear.weight': torch.zeros(1, 2)}, 'x': Exploit(marker)},
               path)
    with pytest.raises(pickle.UnpicklingError, match='Weights only load failed'):
        if loader == 'torch.load':
            torch.load(path, map_location='cpu')
        else:
            load_checkpoint(ToyModel(), str(path), map_location='cpu')
    assert not marker.exists()


def test_numpy_scalars_and_arrays_load(tmp_path):
    meta = dict(iter=np.int64(7), lr=np.float64(0.5), ok=np.bool_(True),
                hist=np.arange(6, dtype=np.float32).reshape(2, 3))
    path = tmp_path / 'meta.pth'
    torch.save({'meta': meta}, path)
    loaded = torch.load(path, map_location='cpu')['meta']
    assert loaded['iter'] == 7 and loaded['lr'] == 0.5 and loaded['ok']
    assert np.array_equal(loaded['hist'], meta['hist'])


class AttributeGrab:
    """A pickle that reaches for another attribute through ``getattr``."""

    def __reduce__(self):
        from mmengine.logging import HistoryBuffer
        return getattr, (HistoryBuffer, '__init__')


def test_getattr_is_limited_to_history_buffer_statistics(tmp_path):
    path = tmp_path / 'grab.pth'
    torch.save({'x': AttributeGrab()}, path)
    with pytest.raises(pickle.UnpicklingError, match=r"refusing getattr\(.*'__init__'\)"):
        torch.load(path, map_location='cpu')


def test_refused_checkpoint_message_names_the_global_or_the_damage(tmp_path):
    from trtvit_dense.utils.checkpoint import refused_checkpoint_message
    evil = tmp_path / 'evil.pth'
    torch.save({'x': Exploit(tmp_path / 'pwned')}, evil)
    with pytest.raises(pickle.UnpicklingError) as refused:
        torch.load(evil, map_location='cpu')
    msg = refused_checkpoint_message(refused.value, str(evil))
    assert msg.startswith(f'checkpoint {evil} was refused by the safe (weights_only) '
                          'loader: ') and 'GLOBAL posix.system' in msg and '\n' not in msg
    damaged = tmp_path / 'damaged.pth'
    damaged.write_bytes(b'not a checkpoint')
    with pytest.raises(pickle.UnpicklingError) as broken:
        torch.load(damaged, map_location='cpu')
    assert refused_checkpoint_message(broken.value) == (
        'a checkpoint is not a readable PyTorch checkpoint (Unsupported operand 110); it '
        'is damaged or not a checkpoint: use another one, e.g. an earlier epoch_N.pth / '
        'iter_N.pth')
    assert not (tmp_path / 'pwned').exists()


class _BytesCall:
    """Unpickles as ``bytes(*args)``: what a crafted pickle would ask for."""

    def __init__(self, *args):
        self.args = args

    def __reduce__(self):
        return bytes, self.args


@pytest.mark.parametrize('value', [np.zeros(0), np.zeros((0, 4), np.int64), b'',
                                   HistoryBuffer(), [b'', np.zeros((0, ), np.float32)]],
                         ids=['empty-array', 'empty-int64-2d', 'empty-bytes',
                              'empty-history-buffer', 'nested'])
def test_harmless_empty_values_load(value, tmp_path):
    """Pickle protocol 2 writes empty bytes (also an empty array's data) as a call of
    builtins.bytes; the safe loader accepts exactly that call."""
    from trtvit_dense.utils.checkpoint import read_checkpoint
    path = tmp_path / 'ckpt.pth'
    torch.save(dict(state_dict={'w': torch.ones(2)}, meta=dict(value=value)), path)
    loaded = read_checkpoint(str(path))['meta']['value']
    if isinstance(value, np.ndarray):
        assert loaded.shape == value.shape and loaded.dtype == value.dtype
    elif isinstance(value, HistoryBuffer):
        assert isinstance(loaded, HistoryBuffer) and len(loaded.data[0]) == 0
    elif isinstance(value, list):
        assert loaded[0] == b'' and loaded[1].shape == (0, )
    else:
        assert loaded == b''


@pytest.mark.parametrize('args, shown', [((10**12, ), 'bytes(1000000000000)'),
                                         (([1, 2, 3], ), 'bytes([1, 2, 3])'),
                                         (('abc', 'utf-8'), "bytes('abc', 'utf-8')")])
def test_crafted_bytes_calls_are_refused(args, shown, tmp_path):
    from trtvit_dense.utils.checkpoint import CheckpointError, read_checkpoint
    path = tmp_path / 'evil.pth'
    torch.save(dict(state_dict={}, meta=dict(x=_BytesCall(*args))), path)
    with pytest.raises(CheckpointError, match=re.escape(
            f'refused by the safe (weights_only) loader: Weights only load failed: '
            f"refusing {shown}; only the empty bytes b'' may be built")):
        read_checkpoint(str(path))
