"""The README's Python API example runs as written (on a small toy dataset and a
seeded random checkpoint in a scratch folder), and its documentation links resolve."""
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import save_checkpoint

ROOT = Path(__file__).parents[2]
README = (ROOT / 'README.md').read_text(encoding='utf-8')


def test_readme_is_short_and_its_links_resolve():
    assert len(README.splitlines()) <= 200
    targets = re.findall(r'\]\(((?:docs/|LICENSE)[^)#]*)', README)
    assert targets and all((ROOT / t).exists() for t in targets), targets
    for page in (ROOT / 'docs').glob('*.md'):
        # relative links resolve; web links (sources) are not fetched
        for target in re.findall(r'\]\((?![a-z]+://)([^)#:]+)',
                                 page.read_text(encoding='utf-8')):
            assert (page.parent / target).exists(), (page.name, target)


@pytest.mark.slow
def test_readme_python_example_runs(tmp_path):
    from trtvit_dense.datasets import make_toy_coco
    code = re.search(r'```python\n(.*?)```', README, re.S).group(1)
    make_toy_coco(tmp_path / 'data' / 'toy_coco', num_train=2, num_val=3, seed=0)
    save_checkpoint('configs/toy/retinanet_trtvit-a_fpn_toy.py', tmp_path / 'epoch_5.pth')
    out = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, check=True,
                         capture_output=True, text=True).stdout.splitlines()
    printed = [line for line in out if 'loading annotations' not in line
               and not line.startswith(('creating index', 'index created', 'Done'))]
    assert printed[0] == "True ['onnx']", out
    assert re.fullmatch(r'torch\.Size\(\[\d+, 4\]\) tensor\(\[.*\]\)', printed[1]), out
    assert (tmp_path / 'work_dirs/deploy/retina/manifest.json').is_file()
