"""Pure: what a notification says, built from a deployment and its status change.

A `Notification` is neutral: the sinks' builders (slack.py, teams.py, webhook.py) turn it
into their wire format. It is built when the status change is committed and stored in the
outbox as JSON (`to_json` / `from_json`), so what a sink receives describes the deployment
as it was at that change, whatever happened to it later.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from relay.deployment import Deployment, iso, parse_iso


class NotifyEvent(enum.StrEnum):
    """What a sink can be told about (the `on` list of a sink).

    The final statuses of a deployment, plus `rollback` (a rollback deployment was queued),
    `held` (a hold covers the cluster) and `waiting_checks` (the commit's checks are not
    green yet).
    """

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    ERROR = "error"
    SUPERSEDED = "superseded"
    SKIPPED = "skipped"
    CANCELED = "canceled"
    ROLLBACK = "rollback"
    HELD = "held"
    WAITING_CHECKS = "waiting_checks"


DEFAULT_ON: frozenset[NotifyEvent] = frozenset({
    NotifyEvent.FAILED, NotifyEvent.TIMED_OUT, NotifyEvent.ERROR, NotifyEvent.ROLLBACK})


class Tone(enum.StrEnum):
    """How a message should look: the colour or emoji a sink gives it."""

    GOOD = "good"
    BAD = "bad"
    WARNING = "warning"
    NEUTRAL = "neutral"


TONES: Mapping[NotifyEvent, Tone] = {
    NotifyEvent.SUCCEEDED: Tone.GOOD,
    NotifyEvent.FAILED: Tone.BAD,
    NotifyEvent.TIMED_OUT: Tone.BAD,
    NotifyEvent.ERROR: Tone.BAD,
    NotifyEvent.ROLLBACK: Tone.WARNING,
    NotifyEvent.HELD: Tone.WARNING,
    NotifyEvent.WAITING_CHECKS: Tone.NEUTRAL,
    NotifyEvent.SUPERSEDED: Tone.NEUTRAL,
    NotifyEvent.SKIPPED: Tone.NEUTRAL,
    NotifyEvent.CANCELED: Tone.NEUTRAL,
}

SHORT_SHA = 12  # characters of a commit shown in a message (as in the commit-status texts)
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_VERSION_LIMIT = 80  # a version that is not a SHA is shown up to this many characters
_REASON_LIMIT = 1000  # characters of a reason or error carried in a message


@dataclass(frozen=True, slots=True)
class Notification:
    """One message about one status change; every field is safe to show (no secret).

    `deployment` is the deployment object of the admin API at the change
    (`Deployment.to_json()`), carried whole for the `webhook` sink; `rollback` the rollback
    deployment's object for a `rollback` event. `duration_s` is from trigger to final status
    (None when the deployment never triggered or has not ended); `link` is the status page of
    the deployment the message is about, or None without `public_url`.
    """

    event: NotifyEvent
    deployment_id: int
    cluster: int
    status: str
    version: str
    repo: str | None
    ref: str | None
    reason: str | None
    duration_s: float | None
    link: str | None
    kind: str
    at: datetime
    deployment: Mapping[str, Any] = field(repr=False)
    rollback: Mapping[str, Any] | None = field(default=None, repr=False)

    @property
    def commit(self) -> str:
        """The version as shown: a SHA cut to 12 characters, anything else as given."""
        return short_version(self.version)

    @property
    def tone(self) -> Tone:
        return TONES[self.event]

    @property
    def rollback_id(self) -> int | None:
        value = self.rollback.get("id") if self.rollback is not None else None
        return value if isinstance(value, int) else None

    @property
    def rollback_commit(self) -> str | None:
        value = self.rollback.get("version") if self.rollback is not None else None
        return short_version(value) if isinstance(value, str) else None

    @property
    def title(self) -> str:
        """One line in words, e.g. `Deployment of 5f1c0e9a7d21 to cluster 10702 failed`."""
        return _TITLES[self.event](self)

    @property
    def subject(self) -> str:
        """What was deployed from where: `acme/shop main 5f1c0e9a7d21` (parts that exist)."""
        return " ".join(part for part in (self.repo, self.ref_name, self.commit) if part)

    @property
    def ref_name(self) -> str | None:
        """The ref without `refs/heads/` or `refs/tags/`."""
        if self.ref is None:
            return None
        for prefix in ("refs/heads/", "refs/tags/"):
            if self.ref.startswith(prefix):
                return self.ref[len(prefix):]
        return self.ref

    @property
    def text(self) -> str:
        """The plain-text message: title, subject, reason; a chat's fallback text."""
        lines = [self.title, self.subject]
        if self.reason:
            lines.append(self.reason)
        if self.link:
            lines.append(self.link)
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping (the outbox stores it); `from_json` reads it back."""
        return {
            "event": self.event.value, "deployment_id": self.deployment_id,
            "cluster": self.cluster, "status": self.status, "version": self.version,
            "repo": self.repo, "ref": self.ref, "reason": self.reason,
            "duration_s": self.duration_s, "link": self.link, "kind": self.kind,
            "at": iso(self.at), "deployment": dict(self.deployment),
            "rollback": dict(self.rollback) if self.rollback is not None else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Notification:
        """Inverse of `to_json`; raises ValueError naming the first key that is wrong."""
        try:
            at = parse_iso(data["at"])
            if at is None:
                raise ValueError("at")
            duration = data["duration_s"]
            return cls(
                event=NotifyEvent(data["event"]),
                deployment_id=_typed(data, "deployment_id", int),
                cluster=_typed(data, "cluster", int),
                status=_typed(data, "status", str),
                version=_typed(data, "version", str),
                repo=_optional(data, "repo", str), ref=_optional(data, "ref", str),
                reason=_optional(data, "reason", str),
                duration_s=None if duration is None else float(duration),
                link=_optional(data, "link", str), kind=_typed(data, "kind", str), at=at,
                deployment=_typed(data, "deployment", dict),
                rollback=_optional(data, "rollback", dict),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a stored notification: bad or missing {exc}") from None


def build_notification(deployment: Deployment, event: NotifyEvent | str, *, at: datetime,
                       public_url: str | None = None, kind: str | None = None,
                       rollback: Deployment | None = None) -> Notification:
    """The notification of `event` for `deployment`, as of `at` (UTC, the change's time).

    For `rollback`, `deployment` is the one rolled back (what went wrong) and `rollback` the
    rollback deployment just queued (required); the link then points at the rollback. `kind`
    is the deployment's kind (`push`, `manual`, ...), read from the deployment when it has
    one, else `manual` or `push`. `public_url` is `report.public_url`: the link is
    `{public_url}/ui/deployments/{id}`. Raises ValueError for a rollback without `rollback`.
    """
    event = NotifyEvent(event)
    if event is NotifyEvent.ROLLBACK and rollback is None:
        raise ValueError("a rollback notification needs the rollback deployment")
    linked = rollback if event is NotifyEvent.ROLLBACK and rollback is not None else deployment
    return Notification(
        event=event, deployment_id=deployment.id, cluster=deployment.cluster,
        status=deployment.status.value, version=deployment.version, repo=deployment.repo,
        ref=deployment.ref, reason=_clip(deployment.error), duration_s=duration_of(deployment),
        link=status_page_link(public_url, linked.id), kind=kind or _kind_of(deployment),
        at=at, deployment=deployment.to_json(),
        rollback=rollback.to_json() if rollback is not None else None,
    )


def event_for(status: str) -> NotifyEvent | None:
    """The event a deployment's new status causes, or None (`queued`, `triggering`,
    `rolling_out` notify nobody). A rollback is not a status: ask for `NotifyEvent.ROLLBACK`
    when a rollback deployment is queued."""
    try:
        event = NotifyEvent(str(status))
    except ValueError:
        return None
    return None if event is NotifyEvent.ROLLBACK else event


def status_page_link(public_url: str | None, deployment_id: int) -> str | None:
    """`{public_url}/ui/deployments/{id}`, or None without a public URL."""
    if not public_url:
        return None
    return f"{public_url.rstrip('/')}/ui/deployments/{deployment_id}"


def duration_of(deployment: Deployment) -> float | None:
    """Seconds from trigger to final status, or None when either is missing."""
    if deployment.triggered_at is None or deployment.finished_at is None:
        return None
    return max(0.0, (deployment.finished_at - deployment.triggered_at).total_seconds())


def short_version(version: str) -> str:
    """A 40- or 64-hex SHA cut to 12 characters; another version as given (clipped)."""
    if _SHA.fullmatch(version):
        return version[:SHORT_SHA]
    return version if len(version) <= _VERSION_LIMIT else version[: _VERSION_LIMIT - 3] + "..."


def format_duration(seconds: float) -> str:
    """`41 s`, `3 min 5 s`, `2 h 4 min`: whole units, for people."""
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def facts(n: Notification) -> list[tuple[str, str]]:
    """(label, value) pairs shown by the chat sinks, in order; only those that exist."""
    pairs = [("Repository", n.repo), ("Ref", n.ref_name), ("Commit", n.commit),
             ("Cluster", str(n.cluster)), ("Status", n.status)]
    if n.duration_s is not None:
        pairs.append(("Duration", format_duration(n.duration_s)))
    if n.rollback_id is not None:
        pairs.append(("Rollback", f"deployment #{n.rollback_id} to {n.rollback_commit}"))
    return [(label, value) for label, value in pairs if value]


def _kind_of(deployment: Deployment) -> str:
    if deployment.kind is not None:
        return deployment.kind.value
    return "manual" if deployment.manual else "push"  # a row stored before kinds existed


def _clip(text: str | None) -> str | None:
    if text is None:
        return None
    return text if len(text) <= _REASON_LIMIT else text[: _REASON_LIMIT - 3] + "..."


def _took(n: Notification) -> str:
    return f" in {format_duration(n.duration_s)}" if n.duration_s is not None else ""


def _after(n: Notification) -> str:
    return f" after {format_duration(n.duration_s)}" if n.duration_s is not None else ""


def _superseded(n: Notification) -> str:
    by = n.deployment.get("superseded_by")
    return f" by deployment #{by}" if isinstance(by, int) else ""


def _rollback_title(n: Notification) -> str:
    target = f" to {n.rollback_commit}" if n.rollback_commit else ""
    return f"Rolling back cluster {n.cluster}{target} after {n.commit} went wrong"


_TITLES: Mapping[NotifyEvent, Callable[[Notification], str]] = {
    NotifyEvent.SUCCEEDED: lambda n: f"Rolled out {n.commit} to cluster {n.cluster}{_took(n)}",
    NotifyEvent.FAILED: lambda n: f"Rollout of {n.commit} to cluster {n.cluster} failed"
                                  f"{_after(n)}",
    NotifyEvent.TIMED_OUT: lambda n: f"Rollout of {n.commit} to cluster {n.cluster} timed out"
                                     f"{_after(n)}",
    NotifyEvent.ERROR: lambda n: f"Deployment of {n.commit} to cluster {n.cluster} could not "
                                 "be triggered",
    NotifyEvent.SUPERSEDED: lambda n: f"Deployment of {n.commit} to cluster {n.cluster} "
                                      f"superseded{_superseded(n)}",
    NotifyEvent.SKIPPED: lambda n: f"Deployment of {n.commit} to cluster {n.cluster} skipped",
    NotifyEvent.CANCELED: lambda n: f"Deployment of {n.commit} to cluster {n.cluster} "
                                    "canceled by hand",
    NotifyEvent.ROLLBACK: _rollback_title,
    NotifyEvent.HELD: lambda n: f"Deployment of {n.commit} to cluster {n.cluster} is held",
    NotifyEvent.WAITING_CHECKS: lambda n: f"Deployment of {n.commit} to cluster {n.cluster} "
                                          "waits for the commit's checks",
}


def _typed(data: Mapping[str, Any], key: str, kind: type[Any]) -> Any:
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(key)
    return value


def _optional(data: Mapping[str, Any], key: str, kind: type[Any]) -> Any:
    return None if data.get(key) is None else _typed(data, key, kind)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A request a sink builder made: headers and body bytes, POSTed to the sink's URL."""

    headers: Mapping[str, str]
    body: bytes = field(repr=False)


JSON_HEADERS: Mapping[str, str] = {"Content-Type": "application/json; charset=utf-8"}
