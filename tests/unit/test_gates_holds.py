"""Scheduled holds and pauses: what holds a cluster now, until when, what starts next."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.gates.holds import (
    ActiveHold,
    HoldError,
    HoldKind,
    Pause,
    ScheduledHold,
    UpcomingHold,
    active_holds,
    hold_end,
    hold_window,
    next_change,
    next_holds,
    parse_hold,
    parse_holds,
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
        second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


FREEZE = ScheduledHold(name="weekend-freeze", schedule="0 18 * * FRI", duration_s=223200,
                       timezone="Europe/Berlin", clusters=(10702, 10703))
NIGHTLY = ScheduledHold(name="nightly", schedule="0 1 * * *", duration_s=3600,
                        repos=("acme/*",))
EVERYWHERE = ScheduledHold(name="maintenance", schedule="0 12 1 * *", duration_s=600)


@pytest.mark.parametrize(("now", "expected_end"), [
    # Before, at, inside and after the weekend freeze of 27-30 March 2026 (spring forward on
    # Sunday the 29th): it starts Fri 18:00 CET (17:00 UTC), ends Mon 08:00 CEST (06:00 UTC).
    (utc(2026, 3, 27, 16, 59, 59), None),
    (utc(2026, 3, 27, 17), utc(2026, 3, 30, 6)),
    (utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 6)),  # just after the change
    (utc(2026, 3, 30, 5, 59, 59), utc(2026, 3, 30, 6)),
    (utc(2026, 3, 30, 6), None),  # the end is exclusive: released at 08:00 CEST sharp
    # 23-26 October 2026 (fall back on the 25th): Fri 18:00 CEST (16:00 UTC) to
    # Mon 08:00 CET (07:00 UTC).
    (utc(2026, 10, 23, 16), utc(2026, 10, 26, 7)),
    (utc(2026, 10, 25, 1, 30), utc(2026, 10, 26, 7)),  # inside the repeated hour
    (utc(2026, 10, 26, 6, 59), utc(2026, 10, 26, 7)),
    (utc(2026, 10, 26, 7), None),
    (utc(2026, 7, 1, 12), None),  # a Wednesday
])
def test_weekend_freeze_across_daylight_saving_changes(now: datetime,
                                                       expected_end: datetime | None) -> None:
    assert hold_end(FREEZE, now) == expected_end


def test_a_window_reports_its_start() -> None:
    window = hold_window(FREEZE, utc(2026, 3, 28, 12))
    assert window is not None and window.start == utc(2026, 3, 27, 17)


def test_overlapping_windows_join_into_one() -> None:
    # Fires every hour for 90 minutes: the windows overlap, so the hold never lifts between
    # 09:00 and 12:30 UTC.
    hold = ScheduledHold(name="busy", schedule="0 9-11 * * *", duration_s=5400)
    assert hold_end(hold, utc(2026, 5, 4, 9, 10)) == utc(2026, 5, 4, 12, 30)
    assert hold_end(hold, utc(2026, 5, 4, 12, 29)) == utc(2026, 5, 4, 12, 30)
    assert hold_end(hold, utc(2026, 5, 4, 12, 30)) is None


def test_windows_that_touch_join_too() -> None:
    hold = ScheduledHold(name="touching", schedule="0 */2 * * *", duration_s=7200)
    end = hold_end(hold, utc(2026, 5, 4, 9))
    assert end is not None and end > utc(2026, 5, 5)  # the hold never lifts: no gap at all


@pytest.mark.parametrize(("cluster", "repo", "names"), [
    (10702, "acme/shop", ["weekend-freeze", "nightly", "maintenance"]),
    (10702, None, ["weekend-freeze", "maintenance"]),  # a repos hold needs a repository
    (10800, "ACME/Shop", ["nightly", "maintenance"]),  # repo globs ignore case
    (10800, "other/app", ["maintenance"]),
])
def test_which_holds_cover_what(cluster: int, repo: str | None, names: list[str]) -> None:
    # Friday 1 May 2026: freeze from 18:00 CEST, nightly 01:00 UTC (Saturday), maintenance
    # on the 1st at 12:00 UTC. Check each at a time inside its window.
    holds = [FREEZE, NIGHTLY, EVERYWHERE]
    seen: set[str] = set()
    for now in (utc(2026, 5, 1, 12, 5), utc(2026, 5, 2, 1, 30)):
        seen |= {h.name for h in active_holds(holds, [], cluster, repo, now)}
    assert sorted(seen) == sorted(names)


def test_pauses_come_first_and_only_for_their_cluster() -> None:
    now = utc(2026, 3, 28, 12)
    pauses = [Pause(cluster=10702, reason="incident 42", until=utc(2026, 3, 28, 13)),
              Pause(cluster=10800, reason="other cluster")]
    found = active_holds([FREEZE], pauses, 10702, "acme/shop", now)
    assert found == (
        ActiveHold(HoldKind.PAUSE, "pause", "incident 42", None, utc(2026, 3, 28, 13)),
        ActiveHold(HoldKind.SCHEDULE, "weekend-freeze",
                   "hold weekend-freeze (0 18 * * FRI, Europe/Berlin, 223200 s)",
                   utc(2026, 3, 27, 17), utc(2026, 3, 30, 6)),
    )
    assert next_change(found) == utc(2026, 3, 28, 13)


@pytest.mark.parametrize(("until", "now", "active"), [
    (None, utc(2030, 1, 1), True),  # until resumed
    (utc(2026, 3, 28, 13), utc(2026, 3, 28, 12, 59), True),
    (utc(2026, 3, 28, 13), utc(2026, 3, 28, 13), False),  # `until` is exclusive
])
def test_a_pause_holds_until_its_until(until: datetime | None, now: datetime,
                                       active: bool) -> None:
    pause = Pause(cluster=1, reason="by hand", until=until)
    assert bool(active_holds([], [pause], 1, None, now)) is active


@pytest.mark.parametrize(("active", "expected"), [
    ((), None),
    ((ActiveHold(HoldKind.PAUSE, "pause", "r", None, None),), None),
    ((ActiveHold(HoldKind.PAUSE, "pause", "r", None, None),
      ActiveHold(HoldKind.SCHEDULE, "x", "r", None, utc(2026, 1, 2))), utc(2026, 1, 2)),
])
def test_next_change(active: tuple[ActiveHold, ...], expected: datetime | None) -> None:
    assert next_change(active) == expected


def test_next_holds_merges_schedules_in_order() -> None:
    upcoming = next_holds([FREEZE, EVERYWHERE], utc(2026, 3, 25), limit=4)
    assert upcoming == (
        UpcomingHold("weekend-freeze", utc(2026, 3, 27, 17), utc(2026, 3, 30, 6),
                     (10702, 10703), None),
        UpcomingHold("maintenance", utc(2026, 4, 1, 12), utc(2026, 4, 1, 12, 10), None, None),
        UpcomingHold("weekend-freeze", utc(2026, 4, 3, 16), utc(2026, 4, 6, 6),
                     (10702, 10703), None),
        UpcomingHold("weekend-freeze", utc(2026, 4, 10, 16), utc(2026, 4, 13, 6),
                     (10702, 10703), None),
    )
    assert next_holds([FREEZE], utc(2026, 3, 25), limit=0) == ()


@pytest.mark.parametrize(("fields", "problem"), [
    ({"schedule": "0 18 * *"}, "schedule: cron schedule '0 18 * *' must have 5 fields"),
    ({"schedule": "0 18 * * XYZ"}, "schedule: cron schedule '0 18 * * XYZ': Bad day-of-week"),
    ({"timezone": "Europe/Atlantis"}, "timezone: unknown timezone 'Europe/Atlantis'"),
    ({"duration_s": 0}, "duration_s: must be a whole number of seconds > 0"),
    ({"duration_s": -5}, "duration_s: must be a whole number of seconds > 0"),
    ({"duration_s": True}, "duration_s: must be a whole number of seconds > 0"),
    ({"duration_s": 366 * 86400 + 1}, "duration_s: must be a whole number of seconds > 0"),
    ({"duration_s": 1.5}, "duration_s: must be a whole number of seconds > 0"),
    ({"clusters": (1,), "repos": ("a/*",)}, "clusters and repos: give one of them"),
    ({"clusters": ("10702",)}, "clusters: must be cluster ids"),
    ({"repos": ("acme/[",)}, "repos[0]: unclosed '['"),
    ({"name": " "}, "name: must not be empty"),
])
def test_invalid_holds_are_refused_with_the_key(fields: dict[str, Any], problem: str) -> None:
    base: dict[str, Any] = {"name": "h", "schedule": "0 18 * * FRI", "duration_s": 60}
    with pytest.raises(HoldError) as caught:
        ScheduledHold(**(base | fields))
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(HoldError) as caught:
        ScheduledHold(name="h", schedule="nope", duration_s=0, timezone="Nowhere/Else")
    assert [p.split(":")[0] for p in caught.value.problems] == [
        "schedule", "duration_s", "timezone"]


def test_parse_hold_reads_yaml_values() -> None:
    hold = parse_hold({"name": "weekend-freeze", "schedule": "0 18 * * FRI",
                       "duration_s": 223200, "timezone": "Europe/Berlin",
                       "clusters": [10702, 10703]})
    assert hold == FREEZE


@pytest.mark.parametrize(("raw", "message"), [
    ({"name": "x", "schedule": "0 0 * * *", "duration_s": 1, "cluster": [1]},
     "holds[2]: cluster: unknown key"),
    ({"name": "x", "schedule": "0 0 * * *"}, "holds[2]: duration_s: required"),
    ({"name": "x", "schedule": "0 0 * * *", "duration_s": 1, "repos": "acme/*"},
     "holds[2]: repos: must be a list"),
    ({"name": "x", "schedule": "0 0 * * *", "duration_s": 1, "timezone": "Mars/Base"},
     "holds[2]: timezone: unknown timezone"),
])
def test_parse_hold_errors_name_the_entry(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(HoldError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_hold(raw, where="holds[2]")


@pytest.mark.parametrize(("fields", "message"), [
    ({"reason": ""}, "reason: must not be empty"),
    ({"until": datetime(2026, 1, 1)}, "until: must carry a timezone"),
])
def test_invalid_pauses_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(HoldError, match=message):
        Pause(**({"cluster": 1, "reason": "r"} | fields))  # type: ignore[arg-type]


def test_the_same_answer_every_minute_of_a_window() -> None:
    # A fake clock walking through the freeze minute by minute: held exactly while inside.
    now, end = utc(2026, 10, 23, 15), utc(2026, 10, 26, 8)
    held_minutes = 0
    while now < end:
        if active_holds([FREEZE], [], 10702, None, now):
            held_minutes += 1
        now += timedelta(minutes=1)
    assert held_minutes == 63 * 60  # Fri 18:00 CEST to Mon 08:00 CET: 63 real hours


@given(now=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31),
                        timezones=st.just(UTC)),
       schedule=st.sampled_from(["0 18 * * FRI", "30 2 * * *", "*/20 * * * *", "0 1 * * SUN",
                                 "0 0 1 * *"]),
       duration=st.sampled_from([60, 1800, 3600, 7200, 86400, 223200]),
       tz=st.sampled_from(["Europe/Berlin", "America/New_York", "UTC"]))
@settings(max_examples=100, deadline=None)
def test_a_hold_is_active_exactly_until_its_end(now: datetime, schedule: str, duration: int,
                                                tz: str) -> None:
    hold = ScheduledHold(name="h", schedule=schedule, duration_s=duration, timezone=tz)
    end = hold_end(hold, now)
    if end is None:
        return
    assert end > now
    assert hold_end(hold, end - timedelta(seconds=1)) is not None  # held to the last second
    later = hold_end(hold, end)
    # Released at the end (windows are joined), unless the windows never leave a gap: then
    # `end` is where relay looks again, and the hold goes on past it.
    assert later is None or later > end


def test_a_hold_without_gaps_reports_where_to_look_again() -> None:
    hold = ScheduledHold(name="always", schedule="*/20 * * * *", duration_s=1800)
    end = hold_end(hold, utc(2026, 1, 1))
    # The current window and the 200 that follow it are joined; the last ends 30 min in.
    assert end == utc(2026, 1, 1) + timedelta(minutes=20 * 200 + 30)
    assert hold_end(hold, end) is not None


def test_parse_holds_reports_every_entry_with_its_key_path() -> None:
    raw = [
        {"name": "a", "schedule": "0 0 * * *", "duration_s": 60},
        {"name": "b", "schedule": "0 0 * *", "duration_s": 0},
        "not a mapping",
        {"name": "a", "schedule": "0 1 * * *", "duration_s": 60},
    ]
    with pytest.raises(HoldError) as caught:
        parse_holds(raw)
    assert [p.split(":")[0] for p in caught.value.problems] == [
        "holds[1].schedule", "holds[1].duration_s", "holds[2]", "holds[3].name"]
    assert str(caught.value).startswith("holds[1].schedule: cron schedule '0 0 * *'")


@pytest.mark.parametrize(("raw", "count"), [(None, 0), ([], 0),
                                            ([{"name": "a", "schedule": "0 0 * * *",
                                               "duration_s": 60}], 1)])
def test_parse_holds_accepts(raw: object, count: int) -> None:
    assert len(parse_holds(raw)) == count


def test_parse_holds_wants_a_list() -> None:
    with pytest.raises(HoldError, match="holds: must be a list"):
        parse_holds({"name": "a"})
