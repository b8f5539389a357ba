"""Every tool that loads a checkpoint refuses a crafted pickle without running it."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).parents[2]
CONFIG = 'configs/toy/retinanet_trtvit-a_fpn_toy.py'
DEPLOY_CFG = 'configs/deploy/detection_dynamic-64x64-448x448.py'


class Exploit:
    """Unpickling this runs ``touch <marker>``: the command must never run."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


def tool_args(tool, evil, coco, tmp_path):
    data = [f'test_dataloader.dataset.data_root={coco}/',
            f'test_evaluator.ann_file={coco}/annotations/instances_val.json']
    image = str(next((coco / 'val').glob('*.jpg')))
    train = train_args(coco, tmp_path)
    return {
        'test.py': [CONFIG, evil, '--work-dir', str(tmp_path / 'w'), '--cfg-options', *data],
        'deploy.py': [CONFIG, evil, '--deploy-cfg', DEPLOY_CFG,
                      '--work-dir', str(tmp_path / 'w'), '--no-verify'],
        'infer.py': [CONFIG, evil, image, '--out-dir', str(tmp_path / 'w')],
        'benchmark.py': ['--model', CONFIG, evil, '--deploy-cfg', DEPLOY_CFG,
                         '--backends', 'pytorch', '--num-images', '1', '--no-progress',
                         '--work-dir', str(tmp_path / 'w'), '--cfg-options', *data],
        'train.py': [CONFIG, '--resume', evil, *train],
        'train.py --backbone-weights': [CONFIG, '--backbone-weights', evil, *train],
    }[tool]


def train_args(coco, tmp_path):
    return ['--work-dir', str(tmp_path / 'w'),
            '--cfg-options', f'train_dataloader.dataset.data_root={coco}/',
            f'val_dataloader.dataset.data_root={coco}/',
            f'val_evaluator.ann_file={coco}/annotations/instances_val.json',
            'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False']


@pytest.mark.slow
@pytest.mark.parametrize('tool', ['train.py', 'train.py --backbone-weights', 'test.py',
                                  'deploy.py', 'benchmark.py', 'infer.py'])
def test_tool_refuses_a_crafted_checkpoint(tool, toy_data, tmp_path):
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': {'x': Exploit(marker)}}, evil)
    proc = subprocess.run(
        [sys.executable, f'tools/{tool.split()[0]}',
         *tool_args(tool, str(evil), toy_data / 'toy_coco', tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert not marker.exists(), f'{tool} ran the command in the checkpoint'
    # one line naming the file (where the tool knows it) and what the pickle wanted
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('error: ') and 'was refused by the safe (weights_only) loader: ' \
        'Trying to load unsupported GLOBAL posix.system' in last, last
    if tool != 'benchmark.py':
        assert str(evil) in last


@pytest.mark.slow
@pytest.mark.parametrize('tool', ['test.py', 'deploy.py', 'infer.py', 'benchmark.py'])
def test_tool_loads_a_checkpoint_with_empty_values(tool, toy_data, tmp_path):
    """Empty numpy arrays, an empty HistoryBuffer and empty bytes (which pickle protocol
    2 writes as bytes() calls) are harmless, and every tool loads them."""
    import numpy as np
    from conftest import save_checkpoint
    from mmengine.logging import HistoryBuffer
    ckpt = save_checkpoint(CONFIG, tmp_path / 'model.pth')
    data = torch.load(ckpt, weights_only=True)
    data['meta'].update(empty=np.zeros(0), boxes=np.zeros((0, 4), np.int64), raw=b'',
                        buffer=HistoryBuffer())
    torch.save(data, ckpt)
    import importlib
    main = importlib.import_module(f'tools.{tool[:-3]}').main  # in process: no interpreter start
    argv = tool_args(tool, str(ckpt), toy_data / 'toy_coco', tmp_path)
    assert main(argv) is None  # a refused checkpoint would exit with an error line
