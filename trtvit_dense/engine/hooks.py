"""Training hooks that let a killed run resume exactly where it stopped.

mmengine's resume restores the weights, the optimizer, the parameter schedulers and the
message hub, and re-seeds every generator with the checkpoint's seed; it does not
restore where the generators *were*. After a resume, drop-path masks, augmentations run
in the main process (``num_workers=0``) and the base seed the DataLoader draws for each
epoch's iterator all come from a freshly seeded stream, so the resumed run trains on
different random numbers than an uninterrupted one.

* :class:`RNGStateHook` stores the python, numpy, torch (and CUDA) generator states in
  every checkpoint and puts them back on resume, at the point the uninterrupted run
  was at when it saved. A validation pass draws from the generators too and runs after
  the checkpoint is saved (a resumed run skips it), so it gets its own copy of them.
* :class:`AtomicCheckpointHook` writes each checkpoint and ``last_checkpoint`` under a
  temporary name and renames them when complete, and removes outdated checkpoints
  (``max_keep_ckpts``) only after that: a kill while saving leaves the previous
  checkpoint and ``last_checkpoint`` as they were. mmengine deletes the oldest
  checkpoint first and writes the new one in place, so a kill at that moment left a
  truncated file and, with ``max_keep_ckpts=1``, nothing to resume from.

``trtvit_dense.apis.prepare_train_config`` adds both to every training run of the tools.
Every state restored is a plain tensor, numpy array or tuple of numbers: checkpoints
still load under torch's ``weights_only`` unpickler (:mod:`trtvit_dense.utils.checkpoint`).
"""
import os
import os.path as osp
import random
from typing import Optional

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook, Hook
from mmengine.registry import HOOKS
from mmengine.runner import IterBasedTrainLoop, Runner

from ..utils.atomic import atomic_path, atomic_write_bytes

__all__ = ['rng_states', 'set_rng_states', 'RNGStateHook', 'AtomicCheckpointHook']

RNG_STATE_KEY = 'rng_state'


def rng_states() -> dict:
    """The states of the python, numpy, torch CPU and (when present) CUDA generators."""
    states = dict(python=random.getstate(), numpy=np.random.get_state(),
                  torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states['cuda'] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict) -> None:
    """Put back what :func:`rng_states` returned (CUDA states only for as many devices)."""
    random.setstate(states['python'])
    np.random.set_state(states['numpy'])
    torch.set_rng_state(states['torch'])
    cuda = states.get('cuda')
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def _on_cpu(states: dict) -> dict:
    """``states`` with its tensors back on the CPU: resume maps a checkpoint to the
    training device, and the generators take CPU tensors."""
    return dict(states, torch=states['torch'].cpu(),
                cuda=[s.cpu() for s in states.get('cuda') or []])


class _RestoreAfterSkip:
    """Stands in for ``IterBasedTrainLoop.dataloader_iterator`` while a resumed loop
    skips the batches trained before the checkpoint (mmengine loads them again, which
    draws from the generators when ``num_workers=0``). After the last one it restores
    the states and puts the real iterator back, so the next batch is loaded and
    augmented from the same states as in the uninterrupted run."""

    def __init__(self, loop: IterBasedTrainLoop, skip: int, states: dict):
        self._loop, self._iterator = loop, loop.dataloader_iterator
        self._left, self._states = skip, states

    def __iter__(self):
        return self

    def __next__(self):
        batch = next(self._iterator)
        self._left -= 1
        if self._left == 0:
            set_rng_states(self._states)
            self._loop.dataloader_iterator = self._iterator
        return batch

    def __getattr__(self, name):
        return getattr(self._iterator, name)


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Saves the generator states with each checkpoint and restores them on resume.

    Single-process training resumes exactly. With several processes each rank has its
    own states and only rank 0 saves, so a distributed resume keeps mmengine's
    re-seeding (and says so)."""

    # last in every stage: the states are put back after every other hook's before_train
    priority = 'LOWEST'

    def __init__(self):
        self._resumed: Optional[dict] = None
        self._before_val: Optional[dict] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[RNG_STATE_KEY] = rng_states()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # also called for load_from (fine-tuning from weights): that starts afresh
        if not getattr(runner, '_resume', False):
            return
        states = checkpoint.get(RNG_STATE_KEY)
        if states is None:
            runner.logger.warning('the checkpoint holds no random generator states (saved '
                                  'without RNGStateHook): the resumed run re-seeds them and '
                                  'will not repeat an uninterrupted one exactly')
        elif runner.world_size > 1:
            runner.logger.warning('distributed resume: the random generators are re-seeded, '
                                  'not restored (the checkpoint holds rank 0\'s states only)')
        else:
            self._resumed = _on_cpu(states)

    def before_train(self, runner) -> None:
        if self._resumed is None:
            return
        loop = runner.train_loop
        if isinstance(loop, IterBasedTrainLoop) and loop.iter > 0:
            loop.dataloader_iterator = _RestoreAfterSkip(loop, loop.iter, self._resumed)
        else:
            # an epoch-based loop starts the next epoch without replaying data
            set_rng_states(self._resumed)
        runner.logger.info('random generator states restored from the checkpoint')
        self._resumed = None

    def before_val(self, runner) -> None:
        self._before_val = rng_states()

    def after_val(self, runner) -> None:
        if self._before_val is not None:
            set_rng_states(self._before_val)
            self._before_val = None


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` whose checkpoints and ``last_checkpoint`` appear
    complete or not at all, and which removes an outdated checkpoint only after its
    successor is complete. Other storage backends than local files and runners other
    than mmengine's ``Runner`` save as ``CheckpointHook`` does."""

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not (isinstance(self.file_backend, LocalBackend) and isinstance(runner, Runner)):
            return super()._save_checkpoint_with_step(runner, step, meta)
        # the bookkeeping of CheckpointHook, with the removal itself deferred
        outdated = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                            and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated = osp.join(self.out_dir,
                                    self.filename_tmpl.format(self.keep_ckpt_ids.popleft()))
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        self.last_ckpt = osp.join(self.out_dir, self.filename_tmpl.format(step))
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        if not is_main_process():
            return  # Runner.save_checkpoint writes on the main process only
        with atomic_path(self.last_ckpt) as tmp:
            runner.save_checkpoint(
                str(tmp.parent), tmp.name, self.file_client_args,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler,
                meta=meta, by_epoch=self.by_epoch, backend_args=self.backend_args,
                **self.args)
        atomic_write_bytes(osp.join(runner.work_dir, 'last_checkpoint'),
                           self.last_ckpt.encode('utf-8'))
        if outdated is not None and osp.isfile(outdated):
            os.remove(outdated)
