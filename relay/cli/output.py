"""Human output for the CLI: aligned tables and key/value blocks."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], out: TextIO | None = None) -> None:
    """Print rows under headers, columns aligned; None prints as '-'."""
    out = out or sys.stdout
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    for row in [list(headers), *cells]:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip(), file=out)


def pairs(items: Sequence[tuple[str, Any]], out: TextIO | None = None) -> None:
    """Print `key: value` lines with the values aligned."""
    out = out or sys.stdout
    width = max((len(k) for k, _ in items), default=0)
    for key, value in items:
        print(f"{key + ':':<{width + 1}} {_cell(value)}", file=out)


def dump_json(value: Any, out: TextIO | None = None) -> None:
    print(json.dumps(value, indent=2, sort_keys=False), file=out or sys.stdout)


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    return str(value)
