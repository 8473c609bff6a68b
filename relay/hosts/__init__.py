"""The table of git hosts and the one parser over it (pure: no I/O).

`HOSTS` maps every `Source` to its `Host` (relay/hosts/github.py, gitlab.py, gitea.py);
the webhook route (`/hooks/{source}`) and the config's source list derive from it. Adding a
host is one module, one entry here and one `Source` member (README.md, "Development").

`parse_delivery` checks in the order of the answer table: media type (415), then
authenticity (401), then shape (400), so a sender that cannot sign learns nothing about what
relay would accept. What it returns is storable by both stores (see relay/hosts/base.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType

from relay.hosts.base import (
    MAX_DELIVERY_KEY,
    Delivery,
    EventKind,
    Host,
    Malformed,
    PushEvent,
    SignatureError,
    Source,
    Unauthorized,
    UnsupportedMediaType,
    WebhookError,
    decode,
    fold_headers,
    form_payload,
    kind_of,
    push_ignored,
)
from relay.hosts.gitea import Gitea
from relay.hosts.github import GitHub
from relay.hosts.gitlab import GitLab

__all__ = [
    "HOSTS",
    "MAX_DELIVERY_KEY",
    "SOURCE_PATTERN",
    "Delivery",
    "Host",
    "Malformed",
    "PushEvent",
    "Source",
    "Unauthorized",
    "UnsupportedMediaType",
    "WebhookError",
    "event_kind_hint",
    "parse_delivery",
    "push_ignored",
]

HOSTS: Mapping[Source, Host] = MappingProxyType({
    host.source: host for host in (GitHub(), GitLab(), Gitea())
})
SOURCE_PATTERN = "|".join(re.escape(source.value) for source in HOSTS)  # for /hooks/{source}

_MEDIA_TYPES = {"application/json": False, "application/x-www-form-urlencoded": True}


def parse_delivery(
    source: Source,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[bytes],
    *,
    now: datetime | None = None,
    file_lists: bool = True,
) -> Delivery:
    """Check media type, then authenticity, then shape; return the verified delivery.

    Raises UnsupportedMediaType, then Unauthorized, then Malformed (that order wins).
    `secrets`: any one verifies (rotation); an empty sequence verifies nothing. `now` (aware)
    is needed only to check GitLab's Standard Webhooks `webhook-signature`. `file_lists`
    False: the pushes' commit file lists are not read (`changes.commits` is None), for a
    route table without path filters (`Settings.reads_file_lists`); the verdict is the same.
    """
    host = HOSTS[source]
    folded = fold_headers(headers)
    content_type = folded.get("content-type")
    form = is_form(content_type)
    # GitHub signs the raw body, Gitea the JSON inside a form body.
    raw = form_payload(body) if form else body
    try:
        host.verify(folded, body, raw, secrets, now)
    except SignatureError as exc:
        raise Unauthorized(exc.message) from exc
    named = host.delivery_headers(folded, body)
    payload = decode(raw, form)
    verdict = host.classify(named.event, payload)

    def delivery(kind: EventKind, pushes: tuple[PushEvent, ...], ignored: str | None) -> Delivery:
        return Delivery(source, named.key, kind, named.event, content_type or "", named.forward,
                        pushes, ignored)

    if verdict.kind is not None:
        return delivery(verdict.kind, (), verdict.ignored)
    pushes = host.parse(payload, named.key, file_lists=file_lists)
    if not pushes:
        return delivery(EventKind.OTHER, (), "delivery carries no push")
    reasons = [push_ignored(push) for push in pushes]
    ignored = None if None in reasons else reasons[0]
    return delivery(kind_of(pushes[0]), pushes, ignored)


def event_kind_hint(source: Source, headers: Mapping[str, str]) -> EventKind:
    """Guess the metric `event` label from headers alone (for deliveries refused early)."""
    return HOSTS[source].event_kind_hint(fold_headers(headers))


def is_form(content_type: str | None) -> bool:
    """Accept JSON or form-encoded, parameters allowed; anything else is 415.

    The whole header must be printable ASCII (it is stored and shown as received).
    """
    media = (content_type or "").partition(";")[0].strip().lower()
    if media not in _MEDIA_TYPES:
        shown = f"Content-Type {media[:100]!r}" if content_type else "missing Content-Type"
        raise UnsupportedMediaType(
            f"{shown}: expected application/json or application/x-www-form-urlencoded"
        )
    if content_type is not None and not (content_type.isascii() and content_type.isprintable()):
        raise UnsupportedMediaType("Content-Type header is not printable ASCII")
    return _MEDIA_TYPES[media]
