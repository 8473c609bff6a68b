"""CLI output: tables cut to the terminal, ages, colour only where wanted."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from relay.cli.output import age, color_enabled, cut, fit, status_colour, table, terminal_width

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("iso", "expected"), [
    ("2026-11-29T11:59:15.000Z", "45s"), ("2026-11-29T11:57:00Z", "3m"),
    ("2026-11-29T11:00:00Z", "60m"), ("2026-11-29T10:00:00Z", "2h"),
    ("2026-11-27T12:00:00Z", "2d"), ("2026-11-29T12:01:00Z", "0s"), (None, "-"), ("x", "-")])
def test_age(iso: str | None, expected: str) -> None:
    assert age(iso, NOW) == expected


def test_fit_cuts_the_widest_shrinkable_column() -> None:
    assert fit([4, 40, 10], 40, [False, True, True]) == [4, 22, 10]
    assert fit([4, 40, 10], None, [False, True, True]) == [4, 40, 10]
    assert fit([30, 30], 20, [False, False]) == [30, 30]  # cannot: left as is
    assert cut("abcdefghij", 5) == "abcd…"


def test_colour_only_on_a_terminal_without_no_color() -> None:
    assert color_enabled(Tty(), {})
    assert not color_enabled(Tty(), {"NO_COLOR": "1"})
    assert color_enabled(Tty(), {"NO_COLOR": ""})  # no-color.org: only a non-empty value
    assert not color_enabled(Tty(), {"TERM": "dumb"})
    assert not color_enabled(io.StringIO(), {})


def test_terminal_width_only_for_a_terminal_or_columns() -> None:
    assert terminal_width(io.StringIO(), {}) is None
    assert terminal_width(io.StringIO(), {"COLUMNS": "66"}) == 66
    assert terminal_width(Tty(), {}) is not None


def test_table_paints_the_status_after_aligning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    out = Tty()
    table(("ID", "STATUS", "ERROR"), [(1, "failed", "boom"), (2, "succeeded", None)], out,
          colour=status_colour)
    lines = out.getvalue().splitlines()
    assert "\033[31mfailed   \033[0m" in lines[1] and "\033[32msucceeded\033[0m" in lines[2]
    monkeypatch.setenv("NO_COLOR", "1")
    plain = Tty()
    table(("ID", "STATUS"), [(1, "failed")], plain, colour=status_colour)
    assert "\033[" not in plain.getvalue()
