"""Verify and parse GitHub, GitLab and Gitea deliveries into frozen values (pure: no I/O).

Wire details: ../shared/webhook-protocol.md. Nothing here awaits, reads a clock or touches a
socket; the HTTP layer hands in the raw body bytes and the headers.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime


class Source(enum.StrEnum):
    GITHUB = "github"
    GITLAB = "gitlab"
    GITEA = "gitea"


class EventKind(enum.StrEnum):
    """The `event` label of relay_webhooks_received_total (a fixed set)."""

    PUSH = "push"
    TAG_PUSH = "tag_push"
    PING = "ping"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class HeadCommit:
    id: str
    message: str
    timestamp: datetime | None  # timezone-aware UTC when the payload has one


@dataclass(frozen=True, slots=True)
class PushEvent:
    """A normalized push (branch or tag), whatever host sent it."""

    source: Source
    delivery_key: str
    repository: str  # "owner/name" or "group/subgroup/project", as the host spells it
    ref: str  # full ref: refs/heads/main, refs/tags/v1.2
    branch: str | None  # set for refs/heads/*
    tag: str | None  # set for refs/tags/*
    before: str
    after: str
    commit: str  # the commit to deploy: head commit id, else checkout_sha, else after
    created: bool
    deleted: bool
    forced: bool
    head_commit: HeadCommit | None
    pusher: str | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One verified delivery: what relay stores and acts on."""

    source: Source
    delivery_key: str
    event: EventKind
    event_name: str  # the provider's own event header value, e.g. "push", "Push Hook"
    content_type: str  # media type as received, e.g. "application/json"
    forward_headers: tuple[tuple[str, str], ...]  # provider event + delivery headers to forward
    push: PushEvent | None  # None for ping and events relay does not act on
    ignored: str | None  # why relay will not act (ping, deletion, other event); None for pushes


class WebhookError(Exception):
    """A delivery refused; `status` and `outcome` (a metric label) say how."""

    status: int = 400
    outcome: str = "malformed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedMediaType(WebhookError):
    status = 415
    outcome = "unsupported_media_type"


class Unauthorized(WebhookError):
    status = 401
    outcome = "unauthorized"


class Malformed(WebhookError):
    status = 400
    outcome = "malformed"


def parse_delivery(
    source: Source,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[bytes],
) -> Delivery:
    """Check media type, then authenticity, then shape; return the verified delivery.

    Raises UnsupportedMediaType, then Unauthorized, then Malformed (that order wins).
    """
    raise NotImplementedError


def event_kind_hint(source: Source, headers: Mapping[str, str]) -> EventKind:
    """Guess the metric `event` label from headers alone (for deliveries refused early)."""
    raise NotImplementedError
