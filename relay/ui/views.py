"""What the status page shows, computed from stored values (pure: no I/O).

Status badges (colour plus an icon and a word, never colour alone), durations and ages in
words, the timeline of a deployment derived from its stored times, links to the commit and
compare view on its git host, and the delivery headers fit to show.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from relay.deployment import Deployment


@dataclass(frozen=True, slots=True)
class Badge:
    """How a status looks: a CSS tone, a text icon and the word (for screen readers too)."""

    tone: str  # ok, bad, warn, busy, idle
    icon: str
    word: str


_BADGES: dict[str, Badge] = {
    "queued": Badge("idle", "\u25f7", "queued"),  # ◷
    "triggering": Badge("busy", "\u21bb", "triggering"),  # ↻
    "rolling_out": Badge("busy", "\u21bb", "rolling out"),
    "succeeded": Badge("ok", "\u2714", "succeeded"),  # ✔
    "failed": Badge("bad", "\u2716", "failed"),  # ✖
    "timed_out": Badge("bad", "\u231b", "timed out"),  # ⌛
    "error": Badge("bad", "\u26a0", "error"),  # ⚠
    "superseded": Badge("idle", "\u21b7", "superseded"),  # ↷
    "skipped": Badge("idle", "\u2192", "skipped"),  # →
    "canceled": Badge("warn", "\u2298", "canceled"),  # ⊘
    "held": Badge("warn", "\u23f8", "held"),  # ⏸
    "waiting_checks": Badge("idle", "\u25f7", "waiting for checks"),
}
_UNKNOWN = Badge("idle", "?", "unknown")


def badge(status: str) -> Badge:
    """The badge of a status value (unknown values get a neutral one with their own word)."""
    found = _BADGES.get(status)
    return found if found is not None else Badge(_UNKNOWN.tone, _UNKNOWN.icon, status)


def words_for(seconds: float | None) -> str:
    """A duration in words: `850 ms`, `41 s`, `3 min 5 s`, `2 h 4 min`, `3 d 2 h`; `-` for None."""
    if seconds is None:
        return "-"
    if seconds < 0:
        seconds = 0.0
    if seconds < 1:
        return f"{int(seconds * 1000)} ms"
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def duration_of(dep: Deployment, now: datetime) -> float | None:
    """Seconds from created to finished (or to `now` while open)."""
    end = dep.finished_at if dep.finished_at is not None else (
        now if dep.status.is_open else None)
    return None if end is None else (end - dep.created_at).total_seconds()


@dataclass(frozen=True, slots=True)
class Step:
    """One line of a deployment's timeline."""

    label: str
    at: datetime | None
    note: str = ""


def timeline(dep: Deployment) -> tuple[Step, ...]:
    """The statuses a deployment went through, from its stored times.

    relay keeps no status history table: created (queued), trigger started (triggering),
    triggered (rolling out) and finished (the final status) are what the row records; the
    steps a deployment never reached are left out.
    """
    steps = [Step("queued", dep.created_at, "kind " + kind_of(dep))]
    if dep.trigger_started_at is not None:
        attempts = f"attempt {dep.attempts}" if dep.attempts else ""
        steps.append(Step("triggering", dep.trigger_started_at, attempts))
    if dep.triggered_at is not None:
        steps.append(Step("rolling_out", dep.triggered_at, "the platform took the trigger"))
    if dep.finished_at is not None:
        steps.append(Step(dep.status.value, dep.finished_at, dep.error or ""))
    elif dep.status.is_open and (not steps or steps[-1].label != dep.status.value):
        steps.append(Step(dep.status.value, None, "now"))
    return tuple(steps)


def kind_of(dep: Deployment) -> str:
    """push, manual or redelivery (as the admin API's `kind`)."""
    if not dep.manual:
        return "push"
    return "manual" if dep.delivery_id is None else "redelivery"


@dataclass(frozen=True, slots=True)
class Progress:
    """Rollout progress in numbers, from the worker's latest observation."""

    replaced: int | None  # of the containers that ran before the trigger
    running: int | None
    replicas: int | None
    percent: int | None  # of the old containers replaced, 0..100
    state: str | None


def progress_of(dep: Deployment) -> Progress | None:
    """The rollout progress stored with the deployment, or None when there is none."""
    p = dep.progress
    if not isinstance(p, dict) or not p:
        return None

    def num(*names: str) -> int | None:
        for name in names:
            value = p.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        return None

    replicas = num("replicas")
    replaced = num("replaced")
    running = num("running")
    of = num("of")  # the containers before the trigger (relay.rollout.Progress.of)
    percent = None
    if of and replaced is not None:
        percent = max(0, min(100, round(100 * replaced / of)))
    state = p.get("status") if isinstance(p.get("status"), str) else None
    return Progress(replaced, running, replicas, percent, state)


# -- the git host ---------------------------------------------------------------------------

_HIDDEN_HEADER = re.compile(r"signature|token|secret|authorization|cookie|auth|key",
                            re.IGNORECASE)
_HEX = re.compile(r"^[0-9a-fA-F]{7,64}$")


def shown_headers(headers: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """The stored delivery headers fit to show: any name that could carry a signature,
    token, key or secret is left out (its value is never rendered)."""
    return tuple((k, v) for k, v in headers if not _HIDDEN_HEADER.search(k))


def repository_url(source: str, body: bytes, content_type: str) -> str | None:
    """The repository's web URL from a stored push payload (GitHub and Gitea
    `repository.html_url`, GitLab `project.web_url`), only when it is http(s); else None."""
    try:
        if "form" in content_type:
            form = parse_qs(body.decode("utf-8"))
            payload: Any = json.loads(form.get("payload", ["{}"])[0])
        else:
            payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict):
        return None
    holder = payload.get("project") if source == "gitlab" else payload.get("repository")
    if not isinstance(holder, dict):
        holder = payload.get("repository") if isinstance(payload.get("repository"), dict) \
            else None
    if holder is None:
        return None
    url = holder.get("web_url") or holder.get("html_url") or holder.get("homepage")
    if not isinstance(url, str) or len(url) > 500:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        return None
    return url.rstrip("/")


def commit_url(source: str | None, repo_url: str | None, sha: str) -> str | None:
    """The commit's page on its host (GitLab: `/-/commit/`), or None."""
    if not repo_url or not _HEX.match(sha):
        return None
    sep = "/-/commit/" if source == "gitlab" else "/commit/"
    return repo_url + sep + quote(sha)


def compare_url(source: str | None, repo_url: str | None, before: str | None,
                after: str) -> str | None:
    """The compare view `before...after` on its host, or None (no before, or a new ref)."""
    if not repo_url or not before or not _HEX.match(before) or not _HEX.match(after) \
            or set(before) == {"0"}:
        return None
    sep = "/-/compare/" if source == "gitlab" else "/compare/"
    return f"{repo_url}{sep}{before}...{after}"
