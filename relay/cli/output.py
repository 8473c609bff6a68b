"""Human output for the CLI: tables that fit the terminal, key/value blocks, ages, colour.

Tables are cut to the terminal's width only when there is one (standard output is a TTY, or
COLUMNS is set): piped output keeps every character. Colour only on a TTY, never when
NO_COLOR is set to anything non-empty (https://no-color.org) or TERM is `dumb`.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

ELLIPSIS = "…"
MIN_CELL = 8  # a cut cell keeps at least this many characters
GAP = "  "
_COLOURS = {"green": "32", "red": "31", "yellow": "33", "dim": "2"}
STATUS_COLOURS = {
    "succeeded": "green", "failed": "red", "error": "red", "timed_out": "red",
    "queued": "yellow", "triggering": "yellow", "rolling_out": "yellow",
    "held": "yellow", "waiting_checks": "yellow",
    "superseded": "dim", "skipped": "dim", "canceled": "dim",
}


def color_enabled(stream: TextIO | None = None, env: Mapping[str, str] | None = None) -> bool:
    """True when `stream` is a terminal and neither NO_COLOR nor TERM=dumb says no."""
    env = os.environ if env is None else env
    stream = stream or sys.stdout
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def paint(text: str, colour: str | None, enabled: bool) -> str:
    if not enabled or colour not in _COLOURS:
        return text
    return f"\033[{_COLOURS[colour]}m{text}\033[0m"


def terminal_width(stream: TextIO | None = None,
                   env: Mapping[str, str] | None = None) -> int | None:
    """The width to fit tables to, or None when output goes to a pipe or a file."""
    env = os.environ if env is None else env
    if env.get("COLUMNS", "").isdigit():
        return max(int(env["COLUMNS"]), 20)
    stream = stream or sys.stdout
    if getattr(stream, "isatty", lambda: False)():
        return shutil.get_terminal_size().columns
    return None


def fit(widths: Sequence[int], limit: int | None, shrinkable: Sequence[bool]) -> list[int]:
    """Column widths whose total (with the gaps) fits `limit`: the widest shrinkable column
    gives up one character at a time, down to MIN_CELL. Pure; the best it can do may still
    be wider than `limit`."""
    out = list(widths)
    if limit is None:
        return out
    while sum(out) + len(GAP) * (len(out) - 1) > limit:
        candidates = [i for i, w in enumerate(out) if shrinkable[i] and w > MIN_CELL]
        if not candidates:
            break
        widest = max(candidates, key=lambda i: out[i])
        out[widest] -= 1
    return out


def cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + ELLIPSIS


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], out: TextIO | None = None, *,
          keep: Sequence[str] = ("ID",),
          colour: Callable[[str, str], str | None] | None = None) -> None:
    """Print rows under headers, columns aligned, cut to the terminal; None prints as '-'.

    Columns named in `keep` are never cut. `colour(header, cell)` may name a colour for a
    cell (applied after alignment, so widths stay right).
    """
    out = out or sys.stdout
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    widths = fit(widths, terminal_width(out), [h not in keep for h in headers])
    painted = colour is not None and color_enabled(out)
    for n, row in enumerate([list(headers), *cells]):
        parts = []
        for i, (value, width) in enumerate(zip(row, widths, strict=True)):
            text = cut(value, width).ljust(width)
            if painted and n > 0 and colour is not None:
                text = paint(text, colour(headers[i], value), True)
            parts.append(text)
        print(GAP.join(parts).rstrip(), file=out)


def pairs(items: Sequence[tuple[str, Any]], out: TextIO | None = None) -> None:
    """Print `key: value` lines with the values aligned (never cut: values are for copying)."""
    out = out or sys.stdout
    width = max((len(k) for k, _ in items), default=0)
    for key, value in items:
        print(f"{key + ':':<{width + 1}} {_cell(value)}", file=out)


def dump_json(value: Any, out: TextIO | None = None) -> None:
    print(json.dumps(value, indent=2, sort_keys=False), file=out or sys.stdout)


def age(iso_time: str | None, now: datetime | None = None) -> str:
    """How long ago an ISO 8601 time was, kubectl style: 45s, 3m, 2h, 5d ('-' if unknown)."""
    if not iso_time:
        return "-"
    try:
        then = datetime.fromisoformat(iso_time.replace("Z", "+00:00"))
    except ValueError:
        return "-"
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    seconds = int(((now or datetime.now(UTC)) - then).total_seconds())
    if seconds < 0:
        return "0s"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "m" else 1):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def status_colour(header: str, value: str) -> str | None:
    """The `colour` callback of deployment tables: the STATUS column by outcome."""
    return STATUS_COLOURS.get(value) if header == "STATUS" else None


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    return str(value).replace("\n", " ")
