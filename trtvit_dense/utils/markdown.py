"""The Markdown tables of the tools' reports (variants, verification, benchmark,
density, backbone comparison)."""
from __future__ import annotations

from typing import Sequence

__all__ = ['markdown_table']


def markdown_table(head: Sequence[str], rows: Sequence[Sequence], title: str | None = None
                   ) -> str:
    """``| a | b |`` lines: the header, the ``|---|`` rule and one line per row (cells
    are formatted with ``str``); with ``title``, a ``## title`` heading and a blank line
    come first."""
    lines = [f'## {title}', ''] if title else []
    lines += ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    lines += ['| ' + ' | '.join(map(str, row)) + ' |' for row in rows]
    return '\n'.join(lines)
