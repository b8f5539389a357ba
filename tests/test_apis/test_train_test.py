"""Training really works: a few CPU iterations per task on toy data, resume, test.

Training goes through tools/train.py in a subprocess, as a user runs it (torchrun too);
the evaluation of its checkpoint runs tools/test.py in process. The real configs on real
images: test_train_real_data.py.
"""
import json
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import read_test_metrics

ROOT = Path(__file__).parents[2]
pytestmark = pytest.mark.slow

# A model trained for 8 iterations scores every box far below the default 0.05; keep
# them all so that the evaluation really runs (mAP near 0).
KEEP_ALL_DETECTIONS = {
    'mask_rcnn': ['model.test_cfg.rcnn.score_thr=0.0'],
    'retinanet': ['model.test_cfg.score_thr=0.0'],
}
CASES = {
    'mask_rcnn': ('configs/toy/mask-rcnn_trtvit-a_fpn_toy.py', 'coco/bbox_mAP'),
    'retinanet': ('configs/toy/retinanet_trtvit-a_fpn_toy.py', 'coco/bbox_mAP'),
    'upernet': ('configs/toy/upernet_trtvit-a_toy.py', 'mIoU'),
    'classifier': ('configs/toy/classifier_trtvit-a_toy.py', 'accuracy/top1'),
}


def toy_options(task, data, length):
    """--cfg-options for a tiny, deterministic run of `length` iterations.

    One batch of the first two training images (both hold objects) is seen every
    iteration, at a constant learning rate, and the loss is logged unsmoothed, so a
    working model and optimiser show a falling loss within a few iterations.
    """
    opts = ['randomness.seed=0', 'default_hooks.logger.interval=1', 'param_scheduler=[]',
            'log_processor.window_size=1', 'train_dataloader.batch_size=2',
            'train_dataloader.dataset.indices=2']
    for split in ('train', 'val', 'test'):
        opts += [f'{split}_dataloader.num_workers=0',
                 f'{split}_dataloader.persistent_workers=False']
    if task == 'classifier':
        imagenet = f'{data}/toy_imagenet'
        opts += [f'{s}_dataloader.dataset.data_root={imagenet}' for s in ('train', 'val', 'test')]
        opts += [f'train_cfg.max_epochs={length}', f'train_cfg.val_interval={length}',
                 'default_hooks.checkpoint.interval=4']
    elif task == 'upernet':
        ade = f'{data}/toy_ade/ADEChallengeData2016'
        opts += [f'{s}_dataloader.dataset.data_root={ade}' for s in ('train', 'val', 'test')]
        opts += [f'train_cfg.max_iters={length}', f'train_cfg.val_interval={length}',
                 'default_hooks.checkpoint.interval=4']
    else:
        coco = f'{data}/toy_coco/'
        opts += [f'{s}_dataloader.dataset.data_root={coco}' for s in ('train', 'val', 'test')]
        opts += [f'{s}_evaluator.ann_file={coco}annotations/instances_val.json'
                 for s in ('val', 'test')]
        opts += [f'train_cfg.max_epochs={length}', f'train_cfg.val_interval={length}']
    return opts


def run_tool(*args, **kwargs):
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True,
                          text=True, env=env, **kwargs)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def train_losses(work_dir):
    """Losses logged per iteration, from mmengine's scalars.json of every run."""
    losses = {}
    for path in sorted(Path(work_dir).glob('*/vis_data/scalars.json')):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if 'loss' in record:
                losses[record['iter']] = record['loss']
    return [losses[i] for i in sorted(losses)]


@pytest.mark.parametrize('task', sorted(CASES))
def test_train_resume_and_test(task, toy_data, tmp_path):
    config, metric = CASES[task]
    work_dir = tmp_path / task
    ckpt_name = 'iter_{}.pth' if task == 'upernet' else 'epoch_{}.pth'  # 1 iter / epoch
    # 4 training iterations...
    run_tool('tools/train.py', config, '--work-dir', str(work_dir), '--cfg-options',
             *toy_options(task, toy_data, 4))
    losses = train_losses(work_dir)
    assert len(losses) == 4 and all(math.isfinite(v) for v in losses)
    ckpt = work_dir / ckpt_name.format(4)
    assert ckpt.is_file()
    assert (work_dir / 'last_checkpoint').read_text().strip().endswith(ckpt.name)

    # ... then --resume continues from that checkpoint to twice the length.
    out = run_tool('tools/train.py', config, '--work-dir', str(work_dir), '--resume',
                   '--cfg-options', *toy_options(task, toy_data, 8))
    assert f'Load checkpoint from {ckpt}' in out and 'resumed' in out.lower()
    losses = train_losses(work_dir)
    assert len(losses) == 8 and all(math.isfinite(v) for v in losses)
    assert sum(losses[-3:]) < sum(losses[:3]), losses
    final = work_dir / ckpt_name.format(8)
    assert final.is_file()

    # tools/test.py (in process: its imports would cost a subprocess seconds) evaluates
    # the checkpoint, writes the task's metrics and dumps the predictions (a .pkl, or a
    # folder of label PNGs) under their final name at the end.
    from tools import test as test_tool
    dump = tmp_path / 'dump' / ('labels' if task == 'upernet' else 'predictions.pkl')
    test_tool.main([str(ROOT / config), str(final), '--work-dir', str(tmp_path / 'test'),
                    '--out', str(dump), '--cfg-options', *toy_options(task, toy_data, 1),
                    *KEEP_ALL_DETECTIONS.get(task, [])])
    metrics = read_test_metrics(tmp_path / 'test')
    assert metric in metrics, metrics
    assert [p.name for p in dump.parent.iterdir()] == [dump.name]  # no temporaries left
    if task == 'upernet':
        assert len(list(dump.glob('*.png'))) == 4  # one per toy validation image
    elif task == 'classifier':  # mmengine's DumpResults: one dict per toy val image
        results = pickle.loads(dump.read_bytes())
        assert len(results) == 8 and all(r['pred_score'].shape == (5, ) for r in results)
    else:
        assert len(pickle.loads(dump.read_bytes())) == 4


@pytest.mark.parametrize('task, port', [('retinanet', '29533'), ('classifier', '29534')])
def test_torchrun_two_processes_train_and_evaluate(task, port, toy_data, tmp_path):
    """torchrun --nproc_per_node 2 on CPU (gloo): DDP training, then distributed eval."""
    config, metric = CASES[task]
    work_dir = tmp_path / 'dist'
    env = dict(os.environ, PYTHON=sys.executable, PORT=port, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        ['bash', 'tools/dist_train.sh', config, '2', '--work-dir', str(work_dir),
         '--cfg-options', *toy_options(task, toy_data, 2),
         *KEEP_ALL_DETECTIONS.get(task, [])],
        cwd=ROOT, capture_output=True, text=True, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert 'Distributed training: True' in out and 'GPU number: 2' in out
    assert metric in out
    # 2 images over 2 processes: 1 iteration per epoch, 2 epochs.
    assert len(train_losses(work_dir)) == 2
    assert (work_dir / 'epoch_2.pth').is_file()


def test_imagenet_config_trains_on_a_fake_imagenet_folder(tmp_path):
    """The full ImageNet-1k recipe (RandAugment, random erasing, Mixup/CutMix, label
    smoothing, AdamW with warm-up + cosine, 1000 classes, 224 px) trains a few iterations
    and validates (top-1/top-5) on a folder in mmpretrain's ImageNet layout."""
    from trtvit_dense.datasets import make_toy_imagenet
    root = tmp_path / 'imagenet'
    make_toy_imagenet(root, num_train=4, num_val=2, seed=0)
    # 2 epochs: warm-up for the first, cosine over the second (the recipe's 20 + 280)
    opts = ['randomness.seed=0', 'default_hooks.logger.interval=1', 'train_cfg.max_epochs=2',
            'param_scheduler.0.end=1', 'param_scheduler.1.begin=1',
            'train_dataloader.batch_size=2', 'val_dataloader.batch_size=2']
    for split in ('train', 'val', 'test'):
        opts += [f'{split}_dataloader.dataset.data_root={root}',
                 f'{split}_dataloader.num_workers=0',
                 f'{split}_dataloader.persistent_workers=False']
    out = run_tool('tools/train.py', 'configs/imagenet/trtvit-a_8xb128_in1k.py', '--work-dir',
                   str(tmp_path / 'work'), '--cfg-options', *opts)
    losses = train_losses(tmp_path / 'work')
    assert len(losses) == 4 and all(math.isfinite(v) for v in losses)
    assert 'accuracy/top1' in out and 'accuracy/top5' in out
    assert (tmp_path / 'work' / 'epoch_2.pth').is_file()
