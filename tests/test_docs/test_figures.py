"""Every wall time the README and the docs state is one of docs/measurements.md's, the
page that says when, where and how each was measured; and the README leads with the two
commands and the main command.

Generated reports (docs/demo/report.md, docs/benchmark/*.md) are left out: they carry
their own environment and are rewritten by the tools, not by hand. Only pathlib and re:
this runs without the project's environment."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
MEASUREMENTS = ROOT / 'docs' / 'measurements.md'
GENERATED = {ROOT / 'docs' / 'demo' / 'report.md', *(ROOT / 'docs' / 'benchmark').glob('*.md')}
PAGES = sorted(p for p in [ROOT / 'README.md', *(ROOT / 'docs').rglob('*.md')]
               if p != MEASUREMENTS and p not in GENERATED)

UNITS = {'min': r'min(?:ute)?s?', 's': r's(?:ec(?:ond)?s?)?', 'h': r'h(?:ours?)?'}
UNIT = '(?:' + '|'.join(UNITS.values()) + ')'
VALUE = r'\d+(?:\.\d+)?(?:\s*[-–]\s*\d+(?:\.\d+)?)?'  # 20.6, or a range: 1.7-1.85
# "~15 min", "about 8 minutes", "16 min 17 s", "1026 s", "10-minute"; not "210 ms",
# "ResNet-50 s" or a progress line's "1m10s" (a figure follows no letter, digit, dot or hyphen)
FIGURE = re.compile(rf'(?<![\w.-])(?:(?:~|≈|about|around)\s*)?(?P<value>{VALUE})(?:\s*|-)'
                    rf'(?P<unit>{UNIT})\b(?:\s+(?P<value2>\d+(?:\.\d+)?)\s*(?P<unit2>{UNIT})\b)?')

# Times that are limits, targets or settings, not measurements: the words right before
# or after the figure say so ("every 15 s" between progress lines, "at most 10 min",
# "within 20 minutes", CI's "90 min limit", a "--timeout 600 s" option).
LIMIT_BEFORE = re.compile(r'(?:every|at most|within|under|below|≤|<=|<|limit of|'
                          r'timeout of|budget of|--timeout|--budget-min)\s*$')
LIMIT_AFTER = re.compile(r'^[\s-]*(?:limit|timeout|budget)')


def _unit(text: str) -> str:
    return next(name for name, pattern in UNITS.items() if re.fullmatch(pattern, text))


def _normalised(match: re.Match) -> str:
    """'~16 min 17 s' and 'about 16 minutes 17 seconds' both read '16 min 17 s'."""
    text = re.sub(r'\s*[-–]\s*', '-', match['value']) + ' ' + _unit(match['unit'])
    if match['value2']:
        text += f" {match['value2']} {_unit(match['unit2'])}"
    return text


def stated_times(text: str, skip_limits: bool = True) -> list[str]:
    """The normalised time figures of ``text``, in order; limits and settings left out."""
    found = []
    for match in FIGURE.finditer(text):
        before, after = text[max(0, match.start() - 20):match.start()], text[match.end():]
        if skip_limits and (LIMIT_BEFORE.search(before) or LIMIT_AFTER.match(after[:20])):
            continue
        found.append(_normalised(match))
    return found


def measured_times() -> set[str]:
    return set(stated_times(MEASUREMENTS.read_text(encoding='utf-8'), skip_limits=False))


def test_scanner_finds_time_figures():
    sample = ('first set-up ~15 min, the demo (~18 min); mmcv 16 min 17 s, 20.6 min in all, '
              'training 1026 s; make test 2 min 3 s (about 8 minutes), trained in 2 min 27 s; '
              'a 10-minute run, 1.7-1.85 s per step, 0.03 s')
    assert stated_times(sample) == ['15 min', '18 min', '16 min 17 s', '20.6 min', '1026 s',
                                    '2 min 3 s', '8 min', '2 min 27 s', '10 min',
                                    '1.7-1.85 s', '0.03 s']
    # latencies, names, progress lines and limits are not stated times
    assert stated_times('210 ms, ResNet-50 s, 1m10s, ETA 3m05s, epoch_6.pth, 5 shapes, '
                        'a line every 15 s, within 20 minutes, ≤ 15 min, a 90 min limit') == []


def test_measurements_page_dates_every_figure():
    rows = [line for line in MEASUREMENTS.read_text(encoding='utf-8').splitlines()
            if line.startswith('|') and not line.startswith('|---') and stated_times(line)]
    assert rows, 'docs/measurements.md has no table of figures'
    undated = [row for row in rows if not re.search(r'\b20\d\d-\d\d\b', row)]
    assert not undated, undated


@pytest.mark.parametrize('page', PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_states_only_measured_times(page):
    unmeasured = sorted(set(stated_times(page.read_text(encoding='utf-8'))) - measured_times())
    assert not unmeasured, (
        f'{page.relative_to(ROOT)} states {unmeasured}, which docs/measurements.md does not '
        'have: add the measurement there (date, machine, command, conditions) or drop it')


def test_readme_leads_with_the_commands():
    head = '\n'.join((ROOT / 'README.md').read_text(encoding='utf-8').splitlines()[:30])
    for command in ('make demo', 'make test', 'tools/compare.py'):
        assert command in head, f'{command!r} is not in the first 30 lines of README.md'
