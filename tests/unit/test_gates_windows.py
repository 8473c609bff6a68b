"""Cron fire times and wall-clock durations across daylight-saving changes (relay.gates.windows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.gates.windows import (
    ScheduleError,
    check_schedule,
    end_after,
    fires_after,
    last_fire,
    resolve_local,
    zone,
)

BERLIN = zone("Europe/Berlin")
# Europe/Berlin in 2026: clocks go 02:00 CET -> 03:00 CEST on Sunday 29 March (01:00 UTC) and
# 03:00 CEST -> 02:00 CET on Sunday 25 October (01:00 UTC).


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
        second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(("expr", "after", "expected"), [
    # A fixed time that does not exist fires at the first minute after the gap (03:00 CEST).
    ("30 2 * * *", utc(2026, 3, 28, 12), [utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30)]),
    # A fixed time that exists twice fires once, at its first occurrence (02:30 CEST).
    ("30 2 * * *", utc(2026, 10, 24, 12), [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]),
    # Wildcard hours run on real time: the repeated hour fires twice ...
    ("30 * * * *", utc(2026, 10, 24, 23, 45),
     [utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30), utc(2026, 10, 25, 2, 30)]),
    # ... and nothing is lost or added around the gap.
    ("30 * * * *", utc(2026, 3, 28, 23, 45),
     [utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 2, 30)]),
    # Weekly freeze start: 18:00 local on both sides of the change.
    ("0 18 * * FRI", utc(2026, 3, 20, 18), [utc(2026, 3, 27, 17), utc(2026, 4, 3, 16)]),
])
def test_fires_after_follows_the_wall_clock_rules(expr: str, after: datetime,
                                                  expected: list[datetime]) -> None:
    assert list(islice(fires_after(expr, BERLIN, after), len(expected))) == expected


@pytest.mark.parametrize(("expr", "at", "expected"), [
    ("0 18 * * FRI", utc(2026, 3, 27, 17), utc(2026, 3, 27, 17)),  # a fire at `at` counts
    ("0 18 * * FRI", utc(2026, 3, 27, 16, 59, 59), utc(2026, 3, 20, 17)),
    ("30 2 * * *", utc(2026, 3, 29, 1, 10), utc(2026, 3, 29, 1, 0)),  # the moved fire
    # Inside the second 02:xx of the fall-back day: today's fire (first 02:30) is the last one.
    # cronsim's reverse step alone answers yesterday here; the forward walk corrects it.
    ("30 2 * * *", utc(2026, 10, 25, 1, 15), utc(2026, 10, 25, 0, 30)),
    ("30 2 * * *", utc(2026, 10, 25, 1, 45), utc(2026, 10, 25, 0, 30)),
    ("30 * * * *", utc(2026, 10, 25, 1, 45), utc(2026, 10, 25, 1, 30)),
    ("0 0 29 2 *", utc(2026, 6, 1), utc(2024, 2, 28, 23)),  # leap day, in Berlin (CET)
])
def test_last_fire_is_the_latest_fire_at_or_before(expr: str, at: datetime,
                                                   expected: datetime) -> None:
    assert last_fire(expr, BERLIN, at) == expected


@given(at=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31),
                       timezones=st.just(UTC)),
       expr=st.sampled_from(["30 2 * * *", "0 2 * * SUN", "*/20 * * * *", "15 1-3 * * *",
                             "0 18 * * FRI", "0 0 1 * *", "59 23 L * *"]),
       tz=st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC"]))
@settings(max_examples=150, deadline=None)
def test_last_fire_and_fires_after_agree(at: datetime, expr: str, tz: str) -> None:
    zone_ = zone(tz)
    last = last_fire(expr, zone_, at)
    assert last is not None and last <= at
    following = next(fires_after(expr, zone_, last))
    assert following > at  # no fire between the last one and `at`


@pytest.mark.parametrize(("start", "seconds", "expected"), [
    # Weekend freeze Fri 18:00 + 62 h = Mon 08:00 local, whatever the clocks did.
    (utc(2026, 3, 27, 17), 223200, utc(2026, 3, 30, 6)),  # across spring-forward: 61 h real
    (utc(2026, 10, 23, 16), 223200, utc(2026, 10, 26, 7)),  # across fall-back: 63 h real
    (utc(2026, 6, 5, 16), 223200, utc(2026, 6, 8, 6)),  # no change: 62 h real
    # A local end inside the gap ends when the gap ends (03:00 CEST = 01:00 UTC).
    (utc(2026, 3, 29, 0, 0), 5400, utc(2026, 3, 29, 1, 0)),  # 01:00 CET + 1.5 h -> "02:30"
    # A local end that exists twice ends at its first occurrence (02:30 CEST).
    (utc(2026, 10, 24, 23, 30), 3600, utc(2026, 10, 25, 0, 30)),  # 01:30 CEST + 1 h
])
def test_end_after_counts_on_the_wall_clock(start: datetime, seconds: int,
                                            expected: datetime) -> None:
    assert end_after(start, seconds, BERLIN) == expected


def test_end_after_in_utc_is_plain_addition() -> None:
    start = utc(2026, 3, 29, 0, 0)
    assert end_after(start, 86400, zone("UTC")) == start + timedelta(days=1)


@pytest.mark.parametrize(("naive", "expected"), [
    (datetime(2026, 3, 29, 2, 30, 17), utc(2026, 3, 29, 1, 0)),  # in the gap
    (datetime(2026, 10, 25, 2, 30), utc(2026, 10, 25, 0, 30)),  # repeated: first
    (datetime(2026, 7, 1, 12, 0), utc(2026, 7, 1, 10, 0)),
])
def test_resolve_local(naive: datetime, expected: datetime) -> None:
    assert resolve_local(naive, BERLIN) == expected


def test_resolve_local_refuses_an_aware_time() -> None:
    with pytest.raises(ValueError, match="naive"):
        resolve_local(utc(2026, 1, 1), BERLIN)


@pytest.mark.parametrize(("expr", "message"), [
    ("0 18 * *", "must have 5 fields"),
    ("0 0 18 * * FRI", "must have 5 fields"),
    ("@daily", "must have 5 fields"),
    ("61 * * * *", "Bad minute"),
    ("0 25 * * *", "Bad hour"),
    ("0 0 * * FUN", "Bad day-of-week"),
    ("0 0 31 2 *", "Bad day-of-month"),
])
def test_check_schedule_names_the_problem(expr: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        check_schedule(expr)


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", "Europe/Berlin "])
def test_unknown_timezones_are_refused(name: str) -> None:
    with pytest.raises(ScheduleError, match="unknown timezone"):
        zone(name)


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        last_fire("0 0 * * *", BERLIN, datetime(2026, 1, 1))
