"""Pure: a sink's settings and which sinks a notification goes to.

A sink receives a notification when every filter it gives matches: the event is in `on`
(default: failed, timed_out, error, rollback), the cluster is in `clusters` (when given),
and the repository matches one of the `repos` globs (when given; relay.globs syntax, so
`acme/*` stays in one path segment and `acme/**` crosses). A deployment without a
repository (one asked for by hand without one) never matches a `repos` filter.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from relay.globs import Glob, GlobError, compile_glob
from relay.notify.message import DEFAULT_ON, Notification, NotifyEvent
from relay.notify.webhook import signing_key
from relay.secret import Secret


class SinkType(enum.StrEnum):
    """The kinds of sink: each has its builder (relay.notify.RENDERERS)."""

    SLACK = "slack"  # Slack incoming webhook: JSON with `text` and Block Kit `blocks`
    TEAMS = "teams"  # Microsoft Teams workflow webhook: an Adaptive Card
    WEBHOOK = "webhook"  # any HTTP endpoint: JSON signed with Standard Webhooks headers


@dataclass(frozen=True, slots=True)
class SinkSettings:
    """One configured sink (`notify[]` in relay.yaml).

    `url` (and `secret`, for `webhook`) come from the environment and are secrets: the repr
    shows only the variable they came from. `on` is the set of events sent (strings are
    accepted and checked); `clusters` and `repos` are filters, empty meaning "any". Raises
    ValueError naming the sink and what is wrong (never the URL).
    """

    name: str
    type: SinkType
    url: Secret
    secret: Secret | None = None
    on: frozenset[NotifyEvent] = DEFAULT_ON
    clusters: frozenset[int] = frozenset()
    repos: tuple[str, ...] = ()
    _globs: tuple[Glob, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a notify sink needs a name")
        try:
            object.__setattr__(self, "type", SinkType(self.type))
        except ValueError:
            raise ValueError(f"notify sink {self.name!r}: unknown type {self.type!r} "
                             f"(one of {', '.join(SinkType)})") from None
        object.__setattr__(self, "on", _events(self.name, self.on))
        object.__setattr__(self, "clusters", frozenset(self.clusters))
        object.__setattr__(self, "repos", tuple(self.repos))
        globs: list[Glob] = []
        for pattern in self.repos:
            try:
                globs.append(compile_glob(pattern))
            except GlobError as exc:
                raise ValueError(f"notify sink {self.name!r}: repos pattern {pattern!r}: "
                                 f"{exc}") from None
        object.__setattr__(self, "_globs", tuple(globs))
        problem = url_problem(self.url)
        if problem is not None:
            raise ValueError(f"notify sink {self.name!r}: {problem}")
        if self.secret is not None and self.type is not SinkType.WEBHOOK:
            raise ValueError(f"notify sink {self.name!r}: a secret signs only type webhook "
                             f"(this sink is {self.type.value})")
        if self.secret is not None:
            try:
                signing_key(self.secret)
            except ValueError as exc:
                raise ValueError(f"notify sink {self.name!r}: {exc}") from None

    def wants(self, notification: Notification) -> bool:
        """Whether this sink receives `notification` (every filter given matches)."""
        if notification.event not in self.on:
            return False
        if self.clusters and notification.cluster not in self.clusters:
            return False
        if self.repos:
            repo = notification.repo
            return repo is not None and any(g.matches(repo) for g in self._globs)
        return True


def select_sinks(sinks: Iterable[SinkSettings],
                 notification: Notification) -> tuple[SinkSettings, ...]:
    """The sinks, in configuration order, that receive `notification`."""
    return tuple(sink for sink in sinks if sink.wants(notification))


def url_problem(url: Secret) -> str | None:
    """What is wrong with a sink URL, in words that never show it; None when it is usable."""
    where = f" (from {url.source})" if url.source else ""
    value = url.reveal()
    if not value:
        return f"url{where} is empty"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        return f"url{where} is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"url{where} must be an http(s) URL with a host"
    return None


def _events(name: str, on: Iterable[NotifyEvent | str]) -> frozenset[NotifyEvent]:
    if isinstance(on, str):  # `on: failed` where a list was meant
        on = (on,)
    events: set[NotifyEvent] = set()
    for item in on:
        try:
            events.add(NotifyEvent(item))
        except ValueError:
            raise ValueError(f"notify sink {name!r}: unknown event {item!r} in on "
                             f"(one of {', '.join(NotifyEvent)})") from None
    if not events:
        raise ValueError(f"notify sink {name!r}: on is empty (the sink would never send)")
    return frozenset(events)
