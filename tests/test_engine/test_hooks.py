"""The resume hooks' parts: generator states through a safely loaded checkpoint, and
their restoration after the batches an iteration-based loop replays."""
import random

import numpy as np
import torch

from trtvit_dense.engine.hooks import _RestoreAfterSkip, rng_states, set_rng_states
from trtvit_dense.utils.checkpoint import read_checkpoint


def draws():
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_generator_states_load_under_the_safe_loader(tmp_path):
    torch.manual_seed(3)
    states = rng_states()
    expected = draws()
    torch.save(dict(state_dict={}, rng_state=states), tmp_path / 'epoch_1.pth')
    # numpy's state is a uint32 array: allowed by the existing weights_only allow-list
    loaded = read_checkpoint(str(tmp_path / 'epoch_1.pth'))['rng_state']
    set_rng_states(loaded)
    assert draws() == expected


def test_states_are_restored_after_the_replayed_batches():
    def batches():  # loading a batch augments it in the main process: it draws
        for i in range(10):
            draws()
            yield i

    class Loop:
        dataloader_iterator = batches()

    loop = Loop()
    states = rng_states()
    expected = draws()
    loop.dataloader_iterator = proxy = _RestoreAfterSkip(loop, 3, states)
    assert [next(loop.dataloader_iterator) for _ in range(3)] == [0, 1, 2]  # the replay
    assert loop.dataloader_iterator is not proxy  # the real iterator is back
    assert draws() == expected
