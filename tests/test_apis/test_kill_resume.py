"""A training killed with SIGKILL and resumed with --resume ends exactly where an
uninterrupted one does, and a kill while a checkpoint is written leaves nothing that
looks complete.

The runs are tiny toy trainings through tools/train.py in subprocesses (as in
test_train_test.py), under ``randomness=dict(seed=0, deterministic=True)``. Equality
is exact: a run repeats its arithmetic in the same order with the same thread count, so
two uninterrupted runs give bit-identical weights, and only the random numbers drawn
could make a resumed run differ.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import kill_when
from test_train_test import CASES, KEEP_ALL_DETECTIONS, run_tool, toy_options, train_losses

from trtvit_dense.apis import load_config, prepare_train_config
from trtvit_dense.utils.checkpoint import read_checkpoint, state_dict_of

ROOT = Path(__file__).parents[2]
LENGTH = dict(retinanet=4, upernet=6)  # epochs of 1 iteration / iterations
FINAL = dict(retinanet='epoch_4.pth', upernet='iter_6.pth')
# TRT-ViT with one block per stage and narrower stages: every random draw of the toy
# configs (drop path, augmentation, anchor and pixel sampling) at a tenth of the
# checkpoint size (weights + AdamW states: 350 MB for TRT-ViT-A), which dominated the
# time of these runs.
TINY_WIDTHS = [64, 128, 256, 384]
TINY_MODEL = dict(
    retinanet=f'neck=dict(in_channels={TINY_WIDTHS})',
    upernet=f'decode_head=dict(in_channels={TINY_WIDTHS}), '
    f'auxiliary_head=dict(in_channels={TINY_WIDTHS[2]})')


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """The trainings run single-threaded: exactness needs only a fixed thread count, and
    on a busy 2-core machine two OpenMP threads per process waited on each other's
    time slices (a 0.3 s iteration took up to 14 s)."""
    monkeypatch.setenv('OMP_NUM_THREADS', '1')


@pytest.fixture(scope='module')
def tiny_configs(tmp_path_factory):
    folder = tmp_path_factory.mktemp('configs')
    configs = {}
    for task in TINY_MODEL:
        configs[task] = folder / Path(CASES[task][0]).name
        configs[task].write_text(
            f'_base_ = {str(ROOT / CASES[task][0])!r}\n'
            'model = dict(backbone=dict(arch=dict(_delete_=True, stage_blocks=(1, 1, 1, 1), '
            'mix_blocks=1, '
            f'widths={tuple(TINY_WIDTHS)})), {TINY_MODEL[task]})\n')
    return configs


def kill_resume_options(task, data):
    """Seeded and deterministic. RetinaNet: a checkpoint every epoch, validation every
    epoch, the toy config's persistent training worker (random flips are drawn there).
    UPerNet: a checkpoint every 2 iterations, augmentation in the main process
    (num_workers=0: resize, crop and flip draw from the generators a checkpoint holds)."""
    opts = toy_options(task, data, LENGTH[task]) + KEEP_ALL_DETECTIONS.get(task, [])
    opts += ['randomness.deterministic=True', 'default_hooks.checkpoint.max_keep_ckpts=1']
    if task == 'retinanet':
        opts += ['default_hooks.checkpoint.interval=1', 'train_cfg.val_interval=1',
                 'train_dataloader.num_workers=1', 'train_dataloader.persistent_workers=True']
    else:
        opts += ['default_hooks.checkpoint.interval=2']
    return opts


def train_args(config, task, work_dir, data, *flags):
    return ['tools/train.py', str(config), '--work-dir', str(work_dir), *flags,
            '--cfg-options', *kill_resume_options(task, data)]


def outcome(task, work_dir):
    """Final weights, final validation metrics and every iteration's loss of a run."""
    # read with the tools' safe (weights_only) loader: the generator states load too
    checkpoint = read_checkpoint(str(work_dir / FINAL[task]))
    assert set(checkpoint['rng_state']) >= {'python', 'numpy', 'torch'}
    metric = CASES[task][1]
    scalars = sorted(work_dir.glob('*/vis_data/scalars.json'))[-1].read_text().splitlines()
    metrics = [r for r in map(json.loads, scalars) if metric in r][-1]
    metrics = {k: v for k, v in metrics.items() if k not in ('step', 'time', 'data_time')}
    return state_dict_of(checkpoint), metrics, train_losses(work_dir)


def assert_same_outcome(got, expected):
    weights, metrics, losses = got
    ref_weights, ref_metrics, ref_losses = expected
    assert losses == ref_losses
    assert metrics == ref_metrics
    assert weights.keys() == ref_weights.keys()
    differ = [k for k in weights if not torch.equal(weights[k], ref_weights[k])]
    assert not differ, f'{len(differ)} of {len(weights)} tensors differ, e.g. {differ[:3]}'


def start_training(args, wrapper=None):
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    prefix = ['-c', wrapper] if wrapper else []
    return subprocess.Popen([sys.executable, *prefix, *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# tools/train.py with the local file backend's put (how mmengine writes a checkpoint)
# killing the process half-way through writing the checkpoint named CHECKPOINT.
KILL_WHILE_SAVING = '''
import os, runpy, signal, sys
from mmengine.fileio import LocalBackend

def put_half_then_die(self, obj, filepath):
    if 'CHECKPOINT' in os.path.basename(filepath):
        with open(filepath, 'wb') as f:
            f.write(obj[:len(obj) // 2])
        os.kill(os.getpid(), signal.SIGKILL)
    with open(filepath, 'wb') as f:
        f.write(obj)

LocalBackend.put = put_half_then_die
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
'''


@pytest.mark.slow
@pytest.mark.parametrize('task,kill', [('retinanet', 'after the first checkpoint'),
                                       ('upernet', 'while saving the second checkpoint')])
def test_killed_training_resumes_to_the_same_result(task, kill, toy_data, tiny_configs,
                                                    tmp_path):
    config = tiny_configs[task]
    reference = tmp_path / 'uninterrupted'
    run_tool(*train_args(config, task, reference, toy_data))
    expected = outcome(task, reference)

    work_dir = tmp_path / 'killed'
    args = train_args(config, task, work_dir, toy_data)
    if task == 'retinanet':
        proc = kill_when(start_training(args), (work_dir / 'last_checkpoint').is_file,
                         'first checkpoint')
    else:
        proc = start_training(args, KILL_WHILE_SAVING.replace('CHECKPOINT', 'iter_4.pth'))
        proc.wait(timeout=300)
        # only the complete checkpoint is there and named: mmengine's CheckpointHook
        # deleted iter_2.pth (max_keep_ckpts=1) before writing iter_4.pth in place
        assert sorted(p.name for p in work_dir.glob('*.pth')) == ['iter_2.pth']
    assert proc.returncode == -signal.SIGKILL
    last = Path((work_dir / 'last_checkpoint').read_text().strip())
    read_checkpoint(str(last))  # complete
    assert last.name != FINAL[task], 'killed after the training ended'

    out = run_tool(*train_args(config, task, work_dir, toy_data, '--resume'))
    assert f'Load checkpoint from {last}' in out
    assert 'random generator states restored from the checkpoint' in out
    assert_same_outcome(outcome(task, work_dir), expected)
    for path in tmp_path.glob('*/*.pth'):
        path.unlink()


@pytest.mark.parametrize('auto', [True, False])
def test_truncated_checkpoint_is_refused_in_one_line(auto, tmp_path):
    from tools import train as train_tool
    previous, last = tmp_path / 'epoch_1.pth', tmp_path / 'epoch_2.pth'
    torch.save(dict(state_dict=dict(w=torch.zeros(1000))), previous)
    data = previous.read_bytes()
    last.write_bytes(data[:len(data) // 2])  # cut short, as by a kill while writing
    os.utime(previous, (time.time() - 60, ) * 2)
    (tmp_path / 'last_checkpoint').write_text(str(last))
    resume = ['--resume'] if auto else ['--resume', str(last)]
    with pytest.raises(SystemExit) as exc:
        train_tool.main([str(ROOT / CASES['retinanet'][0]), '--work-dir', str(tmp_path),
                         *resume])
    message = str(exc.value.code)
    assert '\n' not in message
    named_in = f' (named in {tmp_path / "last_checkpoint"})' if auto else ''
    assert message.startswith(f'error: cannot resume from checkpoint {last}{named_in}: it is '
                              'truncated or damaged ('), message
    assert f'resume from the previous one (--resume {previous}) or delete it' in message


def test_every_training_gets_the_resume_hooks_once():
    cfg = load_config(str(ROOT / CASES['retinanet'][0]))
    cfg.randomness = dict(seed=0, deterministic=True)
    for _ in range(2):  # idempotent
        prepare_train_config(cfg, CASES['retinanet'][0], work_dir='unused')
    assert [h.type for h in cfg.custom_hooks].count('RNGStateHook') == 1
    assert cfg.default_hooks.checkpoint.type == 'AtomicCheckpointHook'
    # an epoch-based run's persistent workers would restart their random streams
    assert cfg.train_dataloader.num_workers == 1
    assert cfg.train_dataloader.persistent_workers is False

    cfg = load_config(str(ROOT / CASES['upernet'][0]))
    cfg.randomness = dict(seed=0, deterministic=True)
    prepare_train_config(cfg, CASES['upernet'][0], work_dir='unused')
    assert cfg.train_dataloader.persistent_workers is True  # replayed when resuming
    cfg = load_config(str(ROOT / CASES['retinanet'][0]))
    prepare_train_config(cfg, CASES['retinanet'][0], work_dir='unused')
    assert cfg.train_dataloader.persistent_workers is True  # not asked to be deterministic
