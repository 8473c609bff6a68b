"""GitHub (pure): X-GitHub-* headers, X-Hub-Signature-256 over the raw body, push payloads.

Wire format: GitHub's docs, "Webhook events and payloads" (push, ping) and "Validating webhook
deliveries" (X-Hub-Signature-256). Gitea and Forgejo copy the push payload
(relay/hosts/gitea.py reuses `hub_push`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import ClassVar, Literal

from relay.gates.changes import PushChanges, changes_from_github
from relay.hosts.base import (
    HEADS,
    JSON,
    PARSE,
    TAGS,
    Classified,
    DeliveryHeaders,
    EventKind,
    Host,
    PushEvent,
    SignatureError,
    Source,
    check_hmac,
    delivery_key,
    find_commit,
    head_commit,
    hex_digest,
    is_zero,
    lenient_str,
    not_acted_on,
    optional,
    present,
    ref_before_after,
    ref_name,
    required,
    required_header,
)

SIGNATURE = "X-Hub-Signature-256"


def sign_github(secret: bytes, body: bytes) -> str:
    """Return the `X-Hub-Signature-256` value for `body`: "sha256=" + hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_github(value: str | None, body: bytes, secrets: Sequence[bytes]) -> None:
    """Check `X-Hub-Signature-256` over the raw body bytes, form-encoded or not."""
    value = present(SIGNATURE, value)
    if value[:7].lower() != "sha256=":
        raise SignatureError(f"malformed {SIGNATURE} header: expected 'sha256=' and 64 hex digits")
    check_hmac(SIGNATURE, hex_digest(SIGNATURE, value[7:]), body, secrets)


def hub_push(source: Source, p: JSON, key: str,
             changes: PushChanges | None = None) -> PushEvent:
    """GitHub's push payload, which Gitea/Forgejo copy with gaps.

    Gitea may leave out `head_commit` and the created/deleted/forced flags; then the head is
    the commit in `commits` whose id is `after`, and the flags follow from all-zero SHAs.
    For an annotated tag, GitHub's head_commit is the commit the tag points at.
    """
    ref, before, after = ref_before_after(p)
    repository = required(required(p, "repository", dict), "full_name", str, "repository.")
    commits = optional(p, "commits", list)
    head_obj = optional(p, "head_commit", dict)
    head = head_commit(head_obj, "head_commit.") if head_obj else find_commit(commits, after)
    return PushEvent(
        source=source, delivery_key=key, repository=repository, ref=ref,
        branch=ref_name(ref, HEADS), tag=ref_name(ref, TAGS), before=before, after=after,
        commit=head.id if head else after,
        created=bool(optional(p, "created", bool)) or is_zero(before),
        deleted=bool(optional(p, "deleted", bool)) or is_zero(after),
        forced=bool(optional(p, "forced", bool)),
        head_commit=head, pusher=_hub_pusher(p), changes=changes,
    )


def _hub_pusher(p: JSON) -> str | None:
    # GitHub: pusher is a git identity {name, email}; Gitea: a user {login, username, ...}.
    pusher = p.get("pusher")
    if isinstance(pusher, dict):
        for field in ("login", "username", "name"):
            if value := lenient_str(pusher, field):
                return value
    sender = p.get("sender")
    return lenient_str(sender, "login") if isinstance(sender, dict) else None


class GitHub(Host):
    source: ClassVar[Source] = Source.GITHUB
    config_key: ClassVar[Literal["secret_env", "token_env"]] = "secret_env"

    def event_kind_hint(self, headers: Mapping[str, str]) -> EventKind:
        event = (headers.get("x-github-event") or "").strip().lower()
        return {"push": EventKind.PUSH, "ping": EventKind.PING}.get(event, EventKind.OTHER)

    def delivery_headers(self, headers: Mapping[str, str], body: bytes) -> DeliveryHeaders:
        event = required_header("X-GitHub-Event", headers.get("x-github-event"))
        key = delivery_key("X-GitHub-Delivery", headers.get("x-github-delivery"))
        return DeliveryHeaders(event, key, (("X-GitHub-Event", event), ("X-GitHub-Delivery", key)))

    def verify(self, headers: Mapping[str, str], body: bytes, payload: bytes | None,
               secrets: Sequence[bytes], now: datetime | None) -> None:
        verify_github(headers.get("x-hub-signature-256"), body, secrets)

    def classify(self, event: str, payload: JSON) -> Classified:
        lowered = event.lower()
        if lowered == "push":
            return PARSE
        if lowered == "ping":
            return Classified(EventKind.PING, "ping")
        return not_acted_on(event)

    def parse(self, payload: JSON, key: str, *, file_lists: bool = True) -> tuple[PushEvent, ...]:
        changes = changes_from_github(payload, file_lists=file_lists)
        return (hub_push(self.source, payload, key, changes),)
