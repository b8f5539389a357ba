"""Only config files run as code: no module of the package or the tools evaluates a
string, unpickles without torch's weights-only loader, or starts a shell."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SOURCES = sorted([*(ROOT / 'trtvit_dense').rglob('*.py'), *(ROOT / 'tools').rglob('*.py')])
# Calls that turn data into code or commands.
FORBIDDEN = {'eval', 'exec', 'compile', 'os.system', 'os.popen', 'pickle.load',
             'pickle.loads', 'marshal.loads', 'yaml.load', 'yaml.unsafe_load',
             'dill.load', 'joblib.load', 'numpy.load', 'np.load', 'shelve.open'}


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f'{dotted(node.value)}.{node.attr}'
    return ''


def keyword(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


def problems(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        name = dotted(node.func)
        where = f'{path}:{node.lineno}'
        if name in FORBIDDEN:
            found.append(f'{where}: {name}()')
        if name == 'torch.load':
            safe = keyword(node, 'weights_only')
            if not (isinstance(safe, ast.Constant) and safe.value is True):
                found.append(f'{where}: torch.load without weights_only=True')
        if name.startswith('subprocess.'):
            shell = keyword(node, 'shell')
            if shell is not None and not (isinstance(shell, ast.Constant)
                                          and shell.value is False):
                found.append(f'{where}: {name}(shell=...)')
    return found


def test_sources_are_found():
    assert len(SOURCES) > 40 and ROOT / 'tools' / 'train.py' in SOURCES


@pytest.mark.parametrize('path', SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_code_from_data(path):
    assert problems(path) == []


def test_the_scan_finds_what_it_looks_for(tmp_path):
    bad = tmp_path / 'bad.py'
    bad.write_text('import torch, subprocess, pickle\n'
                   'eval(s)\ntorch.load(p)\ntorch.load(p, weights_only=False)\n'
                   "subprocess.run('ls', shell=True)\npickle.loads(b)\n")
    assert [p.split(': ', 1)[1] for p in problems(bad)] == [
        'eval()', 'torch.load without weights_only=True',
        'torch.load without weights_only=True', 'subprocess.run(shell=...)',
        'pickle.loads()']
