"""A benchmark killed with SIGKILL and run again continues where it stopped: what was
measured is loaded from the cache untouched, only the rest is measured, and the report
holds every row. The runs are test_benchmark_cli.py's tiny toy benchmark, in
subprocesses as a user runs it."""
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import kill_when, toy_args

ROOT = Path(__file__).parents[2]
NAME = 'retinanet_trtvit-a_fpn_toy'


def benchmark_command(toy_data, work):
    # one thread: the rows' timings mean nothing here, and two threads per process on a
    # busy 2-core machine made every call wait on the other's time slice
    return [sys.executable, 'tools/benchmark.py', *toy_args(toy_data, work), '--threads', '1']


def cache_entries(work):
    """name -> (mtime_ns, content) of every entry; each must be complete JSON."""
    entries = {}
    for path in (work / 'cache').glob('*.json'):
        content = path.read_bytes()
        json.loads(content)  # never half-written
        entries[path.name] = (path.stat().st_mtime_ns, content)
    return entries


@pytest.mark.slow
def test_killed_benchmark_measures_only_what_is_missing(toy_data, tmp_path):
    work = tmp_path / 'bench'
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    proc = subprocess.Popen(benchmark_command(toy_data, work), cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # the data pass is the last measurement of a row: kill once the first row is done
    kill_when(proc, lambda: any((work / 'cache').glob('data-*.json')), 'finished row')
    assert proc.returncode == -signal.SIGKILL
    assert not (work / 'report.json').exists()  # no report that looks complete
    before = cache_entries(work)

    again = subprocess.run(benchmark_command(toy_data, work), cwd=ROOT, env=env,
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
    after = cache_entries(work)
    # what was finished is read, not measured or written again
    assert {k: after[k] for k in before} == before
    new = set(after) - set(before)
    lines = dict(re.findall(rf'^{NAME} (\w+) fp32: (\d+ measurements reused from .*, \d+ '
                            r'measured)$', again.stderr, re.MULTILINE))
    assert lines['pytorch'].startswith('5 measurements reused') \
        and lines['pytorch'].endswith(' 0 measured'), again.stderr[-3000:]
    assert lines['onnxruntime'].endswith(f' {len(new)} measured') and len(new) >= 3, lines

    rows = json.loads((work / 'report.json').read_text())['rows']
    assert [(r['name'], r['backend']) for r in rows] == [(NAME, 'pytorch'), (NAME, 'onnxruntime')]
    cached = [json.loads(content) for _, content in before.values()]
    first = next(e['value'] for e in cached
                 if e['key']['kind'] == 'compute_opt' and e['key']['backend'] == 'pytorch')
    assert rows[0]['compute_opt'] == first  # the report shows the cached measurement
