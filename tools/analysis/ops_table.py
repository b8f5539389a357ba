#!/usr/bin/env python
"""Derive the TensorRT ONNX-parser table of an older TensorRT from its onnx-tensorrt
``docs/operators.md`` and the newest table the lint has.

Rows (supported or not, data types, restriction text) come from the given document. An
op whose restriction text is the same in both keeps the newer table's machine-checkable
encoding; where the older document is stricter the encoding is written here
(:data:`STRICTER`), each with the sentence it encodes; restrictions the newer document
adds (TopK's K < 3840, LayerNormalization's one output, ...) describe limits older
parsers had as well and are kept. Example (the shipped 10.0 table)::

    git -C onnx-tensorrt show release/10.0-GA:docs/operators.md > ops10.0.md
    python tools/analysis/ops_table.py ops10.0.md --version 10.0 --opset 9 20 \\
        --commit eb43908b02a296ea0594432f06e9d3fac288d672 \\
        --out trtvit_dense/deploy/onnx/data/tensorrt10.0_onnx_ops.json
"""
import argparse
import copy
import json
import re
from pathlib import Path

# restriction text of the older doc -> its encoding (lint.py's vocabulary)
STRICTER = {
    '`axes` must be an initializer': lambda op: dict(inputs=dict(axes=dict(
        index={'Slice': 3, 'Pad': 3, 'Squeeze': 1}[op], must_be='initializer'))),
    '`axes` must be a constant tensor': lambda op: dict(inputs=dict(axes=dict(
        index=1, must_be='constant'))),
    '`axis` must be an initializer': lambda op: dict(inputs=dict(axis=dict(
        index=1, must_be='initializer'))),
    '`reduction` is not supported': lambda op: dict(attributes=dict(reduction=dict(
        forbidden=True))),
}


def parse_operators_md(text: str) -> dict:
    rows = {}
    for line in text.splitlines():
        match = re.match(r'^\|\s*([A-Za-z0-9_]+)\s*\|\s*(Y|N)\s*\|(.*)$', line)
        if not match:
            continue
        cells = [c.strip() for c in match.group(3).split('|')]
        types = [t.strip() for t in re.split(r'[, ]+', cells[0]) if t.strip()] if cells else []
        restriction = re.sub(r'\s+', ' ', re.sub(r'<br\s*/?>', ' ', cells[1])).strip() \
            if len(cells) > 1 else ''
        rows[match.group(1)] = dict(supported=match.group(2) == 'Y', types=types,
                                    restrictions=restriction)
    return rows


def derive(rows: dict, newer: dict) -> dict:
    ops = {}
    for name, row in sorted(rows.items()):
        if not row['supported']:
            ops[name] = dict(supported=False)
            continue
        entry = dict(supported=True, types=row['types'])
        new = newer['ops'].get(name, {})
        # the same rule, or the older rule with sentences the newer doc adds
        same_text = new.get('restrictions', '').startswith(row['restrictions'])
        if same_text:
            for key in ('restrictions', 'attributes', 'inputs', 'max_outputs', 'note'):
                if key in new:
                    entry[key] = copy.deepcopy(new[key])
        else:
            entry['restrictions'] = row['restrictions']
            if row['restrictions'] in STRICTER:
                entry.update(STRICTER[row['restrictions']](name))
                entry['note'] = (f'stricter than TensorRT {newer["tensorrt_version"]}, '
                                 'encoded by tools/analysis/ops_table.py')
            elif any(k in new for k in ('attributes', 'inputs', 'max_outputs')):
                raise SystemExit(f'{name}: no encoding for the restriction '
                                 f'{row["restrictions"]!r}; add one to STRICTER')
            else:  # a text the newer table does not machine-check either
                entry['note'] = 'restriction text only (not machine-checked)'
        ops[name] = entry
    return ops


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('operators_md', help="onnx-tensorrt's docs/operators.md")
    parser.add_argument('--version', required=True, help='its TensorRT version, e.g. 10.0')
    parser.add_argument('--opset', nargs=2, type=int, required=True, metavar=('LOW', 'HIGH'))
    parser.add_argument('--commit', required=True, help='the onnx-tensorrt commit read')
    parser.add_argument('--newer', default=str(Path(__file__).parents[2] / 'trtvit_dense'
                                               / 'deploy/onnx/data/tensorrt10_onnx_ops.json'))
    parser.add_argument('--out', required=True)
    args = parser.parse_args(argv)
    newer = json.loads(Path(args.newer).read_text())
    text = Path(args.operators_md).read_text(encoding='utf-8')
    table = dict(
        source=dict(repo='onnx/onnx-tensorrt', path='docs/operators.md',
                    tensorrt_version=args.version, commit=args.commit,
                    header=next((line for line in text.splitlines()
                                 if line.startswith('TensorRT ')), ''),
                    note='Rows, types and restriction texts are the doc\'s; encodings as '
                         f'in the TensorRT {newer["tensorrt_version"]} table where the '
                         'restriction is the same or only documented later, else '
                         'tools/analysis/ops_table.py STRICTER.'),
        tensorrt_version=args.version, opset_range=list(args.opset),
        data_types=newer['data_types'], encoding=newer['encoding'],
        ops=derive(parse_operators_md(text), newer))
    Path(args.out).write_text(json.dumps(table, indent=1) + '\n')
    print(f'{args.out}: {len(table["ops"])} ops')


if __name__ == '__main__':
    main()
