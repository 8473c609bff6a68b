"""When a 5-field cron schedule fires and where a wall-clock duration ends, in an IANA zone (pure).

Every instant going in or out is an aware UTC `datetime`; the zone is only used to read the
schedule. The cron grammar and its daylight-saving rules are cronsim's
(https://github.com/cuu508/cronsim), which follows Debian cron:

- A schedule whose minute and hour fields are both fixed (neither starts with `*`, e.g.
  `30 2 * * *` or `0 18 * * FRI`) is read on the **wall clock** of the zone. On a
  spring-forward day a time that does not exist fires at the first minute that exists after
  the gap (Europe/Berlin, last Sunday of March: `30 2 * * *` fires at 03:00 CEST). On a
  fall-back day a time that exists twice fires **once**, at its first occurrence (`30 2 * * *`
  fires at 02:30 CEST = 00:30 UTC, not again at 02:30 CET).
- A schedule with `*` in its minute or hour field (e.g. `*/15 * * * *`, `0 * * * *`) fires at
  every matching instant of real time: nothing fires inside the gap (those times do not
  exist) and the repeated hour of a fall-back day fires twice.

`end_after` counts a duration on the same wall clock (see its docstring), so a freeze from
Friday 18:00 for 62 hours ends on Monday 08:00 local time even when the clocks change in
between.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

_ONE_SECOND = timedelta(seconds=1)
_ONE_MINUTE = timedelta(minutes=1)
_MAX_GAP_MINUTES = 2 * 24 * 60  # the longest real gap (Samoa, 2011-12-30) is one day
_MAX_REFINE = 10_000  # forward steps to correct cronsim's reverse iteration (usually 0 or 1)


class ScheduleError(ValueError):
    """A cron schedule or a timezone name that cannot be used; the message says which part."""


def zone(name: str) -> ZoneInfo:
    """The IANA timezone `name` (e.g. `Europe/Berlin`, `UTC`); ScheduleError if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"unknown timezone {name!r} (an IANA name such as "
                            f"'Europe/Berlin' or 'UTC')") from exc


def check_schedule(expr: str) -> None:
    """Raise ScheduleError unless `expr` is a 5-field cron expression cronsim accepts.

    Fields: minute hour day-of-month month day-of-week; names (`MON`, `JAN`), ranges, lists,
    steps, `L`, `LW` and `#` as cronsim reads them. Seconds fields and `@daily`-style macros
    are refused.
    """
    fields = expr.split()
    if len(fields) != 5:
        raise ScheduleError(f"cron schedule {expr!r} must have 5 fields "
                            f"(minute hour day month weekday), it has {len(fields)}")
    probe = datetime(2000, 1, 1, tzinfo=UTC)
    try:
        it = CronSim(expr, probe)
    except CronSimError as exc:
        raise ScheduleError(f"cron schedule {expr!r}: {exc}") from exc
    if next(it, None) is None:
        raise ScheduleError(f"cron schedule {expr!r} never fires")


def fires_after(expr: str, tz: ZoneInfo, after: datetime) -> Iterator[datetime]:
    """Yield the fire times of `expr` in `tz` strictly after `after`, increasing, in UTC.

    Infinite for any schedule that fires at all; the caller bounds it. `after` must be aware.
    """
    _require_aware(after)
    last = after
    for local in CronSim(expr, after.astimezone(tz)):
        fire = local.astimezone(UTC)
        # On a fall-back day cronsim's wall-clock mode can return the first occurrence of a
        # repeated time after `after` lies in its second occurrence: that fire is past.
        if fire > last:
            last = fire
            yield fire


def last_fire(expr: str, tz: ZoneInfo, at: datetime) -> datetime | None:
    """The latest fire time of `expr` in `tz` at or before `at` (UTC), None if none in 50 years.

    cronsim iterates backwards for the first guess; near a fall-back change that guess can be
    a day early, so it is walked forward with `fires_after` (which is exact) up to `at`.
    """
    _require_aware(at)
    candidate: datetime | None = None
    reverse = CronSim(expr, (at + _ONE_SECOND).astimezone(tz), reverse=True)
    for _ in range(4):
        local = next(reverse, None)
        if local is None:
            return None
        if local.astimezone(UTC) <= at:
            candidate = local.astimezone(UTC)
            break
    if candidate is None:
        return None
    for step, fire in enumerate(fires_after(expr, tz, candidate)):
        if fire > at or step >= _MAX_REFINE:
            break
        candidate = fire
    return candidate


def end_after(start: datetime, seconds: int, tz: ZoneInfo) -> datetime:
    """The instant (UTC) `seconds` after `start` on the wall clock of `tz`.

    The local time of `start` plus `seconds`, read in `tz`: across a spring-forward change the
    window is an hour shorter in real time, across a fall-back change an hour longer, and it
    ends at the local time the user wrote. A local end time that does not exist becomes the
    first instant after the gap; one that exists twice means its first occurrence (the same
    rules as the schedule's). In UTC this is plain addition.
    """
    _require_aware(start)
    naive = start.astimezone(tz).replace(tzinfo=None) + timedelta(seconds=seconds)
    return resolve_local(naive, tz)


def resolve_local(naive: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant of the wall-clock time `naive` in `tz` (gap: its end; repeated: first)."""
    if naive.tzinfo is not None:
        raise ValueError("resolve_local takes a naive local time")
    if _exists(naive, tz):
        return naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    # Inside a gap. Transitions fall on whole minutes, so step whole minutes to the first
    # local time that exists again: that is the instant the gap ends.
    probe = naive.replace(second=0, microsecond=0)
    for _ in range(_MAX_GAP_MINUTES):
        probe += _ONE_MINUTE
        if _exists(probe, tz):
            return probe.replace(tzinfo=tz, fold=0).astimezone(UTC)
    raise ValueError(f"no valid local time in {tz.key} within two days of {naive.isoformat()}")


def _exists(naive: datetime, tz: ZoneInfo) -> bool:
    local = naive.replace(tzinfo=tz, fold=0)
    return local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive


def _require_aware(value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("times must be timezone-aware (UTC)")
