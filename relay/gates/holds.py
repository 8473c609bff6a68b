"""Which holds (scheduled freezes and pauses by hand) cover a cluster at an instant (pure).

A hold stops new deployments of the clusters it covers from starting; it never reads a
clock: every function takes `now` (an aware UTC datetime). Schedules and daylight saving are
read by `relay.gates.windows`. The worker is expected to call `active_holds` when it admits
or releases a deployment and again at `next_change(...)`, never to trust a cached answer.
"""

from __future__ import annotations

import enum
import heapq
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from zoneinfo import ZoneInfo

from relay.gates.windows import ScheduleError, check_schedule, end_after, fires_after, last_fire
from relay.gates.windows import zone as load_zone
from relay.globs import Glob, GlobError, compile_glob

MAX_DURATION_S = 366 * 86400  # a longer hold is a pause
_MAX_CHAIN = 200  # windows joined end to start before `until` is reported as "at least"
_NOT_A_MAPPING = "must be a mapping with name, schedule and duration_s"
_HOLD_KEYS = frozenset({"name", "schedule", "duration_s", "timezone", "clusters", "repos"})


class HoldError(ValueError):
    """A hold definition that cannot be used; `problems` lists every one found, with its key."""

    def __init__(self, where: str, problems: Sequence[str]) -> None:
        self.where = where
        self.problems = tuple(problems)
        super().__init__((f"{where}: " if where else "") + "; ".join(self.problems))


class HoldKind(enum.StrEnum):
    """Where an active hold comes from."""

    SCHEDULE = "schedule"  # a `holds:` entry of the configuration
    PAUSE = "pause"  # `relay pause` / `POST /api/clusters/{id}/pause`, or a failed rollback


@dataclass(frozen=True, slots=True)
class ScheduledHold:
    """One `holds:` entry: from each fire of `schedule` in `timezone`, for `duration_s`.

    `clusters` (cluster ids) or `repos` (globs of `relay.globs`, case-insensitive, matched
    against the deployment's repository), not both; neither covers every cluster. Raises
    HoldError listing every problem (bad cron, unknown timezone, duration <= 0 or over 366
    days, both clusters and repos, a malformed glob).
    """

    name: str
    schedule: str
    duration_s: int
    timezone: str = "UTC"
    clusters: tuple[int, ...] | None = None
    repos: tuple[str, ...] | None = None
    tz: ZoneInfo = field(init=False, repr=False, compare=False)
    repo_patterns: tuple[Glob, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not self.name.strip():
            problems.append("name: must not be empty")
        try:
            check_schedule(self.schedule)
        except ScheduleError as exc:
            problems.append(f"schedule: {exc}")
        if isinstance(self.duration_s, bool) or not isinstance(self.duration_s, int) \
                or not 0 < self.duration_s <= MAX_DURATION_S:
            problems.append(f"duration_s: must be a whole number of seconds > 0 and at most "
                            f"{MAX_DURATION_S} (366 days; use a pause for longer), "
                            f"got {self.duration_s!r}")
        tz: ZoneInfo | None = None
        try:
            tz = load_zone(self.timezone)
        except ScheduleError as exc:
            problems.append(f"timezone: {exc}")
        if self.clusters is not None and any(
                isinstance(c, bool) or not isinstance(c, int) for c in self.clusters):
            problems.append(f"clusters: must be cluster ids (whole numbers), got "
                            f"{list(self.clusters)!r}")
        if self.clusters is not None and self.repos is not None:
            problems.append("clusters and repos: give one of them, or neither for every cluster")
        patterns = _compile_repos(self.repos or (), problems)
        if problems:
            raise HoldError(f"hold {self.name!r}", problems)
        assert tz is not None
        object.__setattr__(self, "tz", tz)
        object.__setattr__(self, "repo_patterns", patterns)

    def covers(self, cluster: int, repo: str | None) -> bool:
        """Whether this hold applies to a deployment of `repo` on `cluster`.

        A `repos` hold covers only deployments that name a repository (None: not covered).
        """
        if self.clusters is not None:
            return cluster in self.clusters
        if self.repos is not None:
            return repo is not None and any(p.match(repo) is not None for p in self.repo_patterns)
        return True


@dataclass(frozen=True, slots=True)
class Pause:
    """A hold by hand on one cluster, until `until` (exclusive) or, when None, until resumed.

    A failed rollback makes one with reason `rollback failed` (relay.gates.rollback).
    """

    cluster: int
    reason: str
    until: datetime | None = None
    since: datetime | None = None

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise HoldError(f"pause of cluster {self.cluster}", ["reason: must not be empty"])
        for name, value in (("until", self.until), ("since", self.since)):
            if value is not None and value.utcoffset() is None:
                raise HoldError(f"pause of cluster {self.cluster}",
                                [f"{name}: must carry a timezone"])

    def active(self, now: datetime) -> bool:
        """Whether the pause holds at `now`."""
        return self.until is None or now < self.until


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open interval [start, end) of UTC instants."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class ActiveHold:
    """A hold covering a cluster now. `until` None: until resumed by hand.

    For a schedule, `until` is where the current window ends, joined with the windows that
    start before it ends (a schedule that never leaves a gap in 200 windows reports the end
    of the 200th: ask again then).
    """

    kind: HoldKind
    name: str  # the hold's name; "pause" for a pause
    reason: str
    since: datetime | None
    until: datetime | None


@dataclass(frozen=True, slots=True)
class UpcomingHold:
    """A scheduled window that has not started yet (for `relay holds list`, `GET /api/holds`)."""

    name: str
    starts_at: datetime
    ends_at: datetime
    clusters: tuple[int, ...] | None
    repos: tuple[str, ...] | None


def parse_holds(raw: object) -> tuple[ScheduledHold, ...]:
    """Build the `holds:` section (a YAML list, or None for none); HoldError listing every
    problem with its key path (`holds[1].timezone: ...`). Names must be unique (they label
    holds in the API)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise HoldError("holds", ["must be a list"])
    holds: list[ScheduledHold] = []
    problems: list[str] = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, Mapping):
            problems.append(f"holds[{index}]: {_NOT_A_MAPPING}")
            continue
        try:
            hold = parse_hold(entry, where=f"holds[{index}]")
        except HoldError as exc:
            problems += [f"holds[{index}].{problem}" for problem in exc.problems]
            continue
        if any(h.name == hold.name for h in holds):
            problems.append(f"holds[{index}].name: {hold.name!r} is already used")
        holds.append(hold)
    if problems:
        raise HoldError("", problems)
    return tuple(holds)


def parse_hold(raw: object, *, where: str = "holds[0]") -> ScheduledHold:
    """Build a ScheduledHold from one YAML mapping; HoldError (naming `where`) if invalid.

    Unknown keys are errors; `clusters` is a list of ids, `repos` a list of globs.
    """
    if not isinstance(raw, Mapping):
        raise HoldError(where, [_NOT_A_MAPPING])
    problems = [f"{key}: unknown key" for key in sorted(set(raw) - _HOLD_KEYS)]
    problems += [f"{key}: required" for key in ("name", "schedule", "duration_s")
                 if key not in raw]
    for key in ("clusters", "repos"):
        if key in raw and not isinstance(raw[key], list):
            problems.append(f"{key}: must be a list")
    if problems:
        raise HoldError(where, problems)
    clusters = raw.get("clusters")
    repos = raw.get("repos")
    try:
        return ScheduledHold(
            name=str(raw["name"]), schedule=str(raw["schedule"]), duration_s=raw["duration_s"],
            timezone=str(raw.get("timezone", "UTC")),
            clusters=None if clusters is None else tuple(clusters),
            repos=None if repos is None else tuple(str(r) for r in repos))
    except HoldError as exc:
        raise HoldError(where, exc.problems) from exc


def hold_window(hold: ScheduledHold, now: datetime) -> Window | None:
    """The window of `hold` covering `now`, or None.

    Active when the last fire at or before `now` started less than `duration_s` (wall clock)
    ago; windows that start before the current one ends are joined to it.
    """
    start = last_fire(hold.schedule, hold.tz, now)
    if start is None:
        return None
    end = end_after(start, hold.duration_s, hold.tz)
    if end <= now:
        return None
    for fire in islice(fires_after(hold.schedule, hold.tz, start), _MAX_CHAIN):
        if fire > end:
            break
        end = max(end, end_after(fire, hold.duration_s, hold.tz))
    return Window(start, end)


def hold_end(hold: ScheduledHold, now: datetime) -> datetime | None:
    """When the window of `hold` covering `now` ends (UTC), or None if it is not active."""
    window = hold_window(hold, now)
    return None if window is None else window.end


def active_holds(holds: Iterable[ScheduledHold], pauses: Iterable[Pause], cluster: int,
                 repo: str | None, now: datetime) -> tuple[ActiveHold, ...]:
    """Every hold covering a deployment of `repo` on `cluster` at `now`: pauses first, then
    scheduled holds in configuration order. Empty: not held."""
    found = [ActiveHold(HoldKind.PAUSE, "pause", p.reason, p.since, p.until)
             for p in pauses if p.cluster == cluster and p.active(now)]
    for hold in holds:
        if not hold.covers(cluster, repo):
            continue
        window = hold_window(hold, now)
        if window is not None:
            found.append(ActiveHold(HoldKind.SCHEDULE, hold.name, _describe(hold),
                                    window.start, window.end))
    return tuple(found)


def next_change(active: Iterable[ActiveHold]) -> datetime | None:
    """The earliest `until` among `active`: when to ask `active_holds` again.

    None: nothing there ends by itself (empty, or only pauses without `until`).
    """
    ends = [hold.until for hold in active if hold.until is not None]
    return min(ends) if ends else None


def next_holds(holds: Iterable[ScheduledHold], now: datetime,
               limit: int = 10) -> tuple[UpcomingHold, ...]:
    """The next `limit` scheduled windows starting after `now`, earliest first (ties by name)."""
    if limit <= 0:
        return ()
    streams = [_starts(hold, now, limit) for hold in holds]
    upcoming = []
    for fire, _, hold in islice(heapq.merge(*streams, key=lambda t: (t[0], t[1])), limit):
        upcoming.append(UpcomingHold(hold.name, fire, end_after(fire, hold.duration_s, hold.tz),
                                     hold.clusters, hold.repos))
    return tuple(upcoming)


def _starts(hold: ScheduledHold, now: datetime,
            limit: int) -> Iterator[tuple[datetime, str, ScheduledHold]]:
    for fire in islice(fires_after(hold.schedule, hold.tz, now), limit):
        yield fire, hold.name, hold


def _describe(hold: ScheduledHold) -> str:
    return f"hold {hold.name} ({hold.schedule}, {hold.timezone}, {hold.duration_s} s)"


def _compile_repos(repos: Iterable[str], problems: list[str]) -> tuple[Glob, ...]:
    patterns = []
    for index, glob in enumerate(repos):
        try:
            patterns.append(compile_glob(glob, ignore_case=True))
        except GlobError as exc:
            problems.append(f"repos[{index}]: {exc}")
    return tuple(patterns)
