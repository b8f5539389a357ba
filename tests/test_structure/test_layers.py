"""The package's layers run one way and its imports form no cycle.

Layers, lowest first: the ground floor (tasks, config, registry, utils) ->
models / engine / datasets / checks (a config's model and data) -> deploy -> benchmark -> apis. Every ``import`` of a
trtvit_dense module, at module level or inside a function (``if TYPE_CHECKING:`` blocks
excepted: they never run), must name the same layer or a lower one, and the graph of
those imports has no cycle.
"""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / 'trtvit_dense'
LAYERS = {'version': 0, 'registry': 0, 'utils': 0, 'tasks': 0, 'config': 0, 'checks': 1,
          'models': 1, 'engine': 1, 'datasets': 1, 'deploy': 2, 'benchmark': 3, 'apis': 4}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _type_checking_blocks(tree):
    return [n for n in ast.walk(tree) if isinstance(n, ast.If)
            and getattr(n.test, 'id', getattr(n.test, 'attr', None)) == 'TYPE_CHECKING']


def imports_of(path: Path) -> set[str]:
    """The trtvit_dense modules ``path`` imports (``from .x import y`` counts as
    ``x.y`` when ``y`` is a module, else as ``x``)."""
    tree = ast.parse(path.read_text(encoding='utf-8'))
    skipped = {id(n) for block in _type_checking_blocks(tree) for n in ast.walk(block)}
    name = module_name(path)
    package = name if path.name == '__init__.py' else name.rpartition('.')[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith('trtvit_dense')}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')[:len(package.split('.')) - node.level + 1]
                target = '.'.join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ''
            if not target.startswith('trtvit_dense'):
                continue
            for alias in node.names:
                sub = f'{target}.{alias.name}'
                found.add(sub if _is_module(sub) else target)
    return found


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split('.'))
    return path.with_suffix('.py').is_file() or (path / '__init__.py').is_file()


def layer(name: str) -> int | None:
    parts = name.split('.')
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


GRAPH = {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob('*.py'))}


def test_every_module_has_a_layer():
    assert {m for m in GRAPH if m != 'trtvit_dense' and layer(m) is None} == set()


@pytest.mark.parametrize('module', sorted(m for m in GRAPH if m != 'trtvit_dense'))
def test_imports_go_down_or_sideways(module):
    upward = sorted(t for t in GRAPH[module] if layer(t) is not None
                    and layer(t) > layer(module))
    assert upward == [], f'{module} imports a higher layer: {upward}'


def test_nothing_below_apis_imports_apis():
    users = sorted(m for m, targets in GRAPH.items() if m != 'trtvit_dense'
                   and layer(m) < LAYERS['apis']
                   and any(t.startswith('trtvit_dense.apis') for t in targets))
    assert users == []


def test_no_import_cycle():
    state, stack, cycles = {}, [], []

    def visit(node):
        state[node] = 'open'
        stack.append(node)
        for target in sorted(GRAPH.get(node, ())):
            if target not in GRAPH or target == node:
                continue
            if state.get(target) == 'open':
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 'done'

    for node in sorted(GRAPH):
        if node not in state:
            visit(node)
    assert cycles == []


def test_the_scan_sees_each_kind_of_import():
    """The scan is not blind: relative, absolute and function-level imports are found,
    a TYPE_CHECKING import is not."""
    probe = PACKAGE / 'deploy' / 'tasks' / 'detection.py'
    found = imports_of(probe)
    assert 'trtvit_dense.deploy.rewrite.detection' in found  # from ..rewrite.detection
    assert 'trtvit_dense.deploy.config' in found
    assert 'trtvit_dense.deploy.verify' not in found  # under TYPE_CHECKING only
    assert 'trtvit_dense.deploy.pipeline' in imports_of(PACKAGE / 'benchmark' / 'models.py')
    assert 'trtvit_dense.deploy.backends.tensorrt' in imports_of(
        PACKAGE / 'deploy' / 'backends' / '__init__.py')  # inside a function
