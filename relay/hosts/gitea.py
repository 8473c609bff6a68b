"""Gitea, Forgejo and Gogs (pure): X-Gitea-* / X-Forgejo-* / X-Gogs-* headers, a bare-hex
HMAC-SHA256 over the JSON payload (inside a form body's `payload` field when form-encoded),
and GitHub's push payload with gaps (relay/hosts/github.py `hub_push`).

Wire format: Gitea's and Forgejo's "Webhooks" docs (headers, signature, push payload).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import ClassVar, Literal

from relay.gates.changes import changes_from_gitea
from relay.hosts.base import (
    JSON,
    PARSE,
    Classified,
    DeliveryHeaders,
    EventKind,
    Host,
    PushEvent,
    Source,
    check_hmac,
    delivery_key,
    first_header,
    hex_digest,
    not_acted_on,
    present,
    required_header,
)
from relay.hosts.github import hub_push

FAMILIES = ("Gitea", "Forgejo", "Gogs")  # X-<family>-* header prefixes, preferred first


def names(suffix: str) -> tuple[str, ...]:
    """The header names of every family for `suffix`: X-Gitea-Event, X-Forgejo-Event, ..."""
    return tuple(f"X-{family}-{suffix}" for family in FAMILIES)


def sign_gitea(secret: bytes, payload: bytes) -> str:
    """Return the `X-Gitea-Signature` value: bare hex HMAC-SHA256 of the JSON payload."""
    return hmac.new(secret, payload, hashlib.sha256).hexdigest()


def verify_gitea(name: str, value: str | None, payload: bytes, secrets: Sequence[bytes]) -> None:
    """Check a bare-hex Gitea/Forgejo/Gogs signature over the JSON payload."""
    check_hmac(name, hex_digest(name, present(name, value)), payload, secrets)


class Gitea(Host):
    source: ClassVar[Source] = Source.GITEA
    config_key: ClassVar[Literal["secret_env", "token_env"]] = "secret_env"

    def event_kind_hint(self, headers: Mapping[str, str]) -> EventKind:
        event = (first_header(headers, names("Event"))[1] or "").strip().lower()
        return EventKind.PUSH if event == "push" else EventKind.OTHER

    def delivery_headers(self, headers: Mapping[str, str], body: bytes) -> DeliveryHeaders:
        event_name, event_value = first_header(headers, names("Event"))
        key_name, key_value = first_header(headers, names("Delivery"))
        event = required_header(event_name, event_value)
        key = delivery_key(key_name, key_value)
        return DeliveryHeaders(event, key, ((event_name, event), (key_name, key)))

    def verify(self, headers: Mapping[str, str], body: bytes, payload: bytes | None,
               secrets: Sequence[bytes], now: datetime | None) -> None:
        name, value = first_header(headers, names("Signature"))
        verify_gitea(name, value, payload or b"", secrets)

    def classify(self, event: str, payload: JSON) -> Classified:
        return PARSE if event.lower() == "push" else not_acted_on(event)

    def parse(self, payload: JSON, key: str, *, file_lists: bool = True) -> tuple[PushEvent, ...]:
        changes = changes_from_gitea(payload, file_lists=file_lists)
        return (hub_push(self.source, payload, key, changes),)
