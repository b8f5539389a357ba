"""docs/compare.md's table of the data check's rules is the rules themselves, and every
rule is one the check can reach (a rule no code names would be a promise nobody keeps)."""
import re
from pathlib import Path

from tools.analysis import data_rules
from trtvit_dense.datasets.rules import ACTIONS, AS_IS, RULES

ROOT = Path(__file__).parents[2]


def test_the_docs_table_is_generated_from_the_rules():
    text = data_rules.DOC.read_text()
    assert data_rules.updated(text) == text, (
        'docs/compare.md differs from the rules: run python tools/analysis/data_rules.py '
        '--write')


def test_every_rule_is_named_by_the_code_that_applies_it():
    source = '\n'.join(p.read_text() for p in (ROOT / 'trtvit_dense' / 'datasets').glob('*.py')
                       if p.name != 'rules.py')
    named = set(re.findall(r"'([a-z0-9][a-z0-9-]*)'", source))
    assert sorted(set(RULES) - named - {'too-many-dropped'}) == []  # that one: rules.py
    applied = set(re.findall(r"(?:\.add|\.refuse|RULES\[)\(?\s*'([a-z0-9-]+)'", source))
    assert len(applied) > 40 and sorted(applied - set(RULES)) == []


def test_every_rule_is_complete():
    for rule in RULES.values():
        assert rule.action in ACTIONS and rule.as_is in AS_IS, rule
        assert rule.layout in ('coco', 'segmentation', 'classification', 'images'), rule
        assert rule.defect and rule.outcome and not rule.outcome.endswith('.'), rule
