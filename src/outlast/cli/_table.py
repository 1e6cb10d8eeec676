"""Plain-text tables for the operators' commands: aligned columns, long cells cut short.

No colour and no box drawing, so the output reads the same in a terminal, a pager and a
log; ``--json`` is what scripts use instead.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["render_table"]

_WIDEST = 60


def _cell(value: object) -> str:
    text = "" if value is None else str(value).replace("\n", " ")
    return text if len(text) <= _WIDEST else text[: _WIDEST - 1] + "…"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """``rows`` under ``headers``, each column as wide as its widest cell."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = [headers, *cells]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )
