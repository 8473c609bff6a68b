"""GitLab (pure): X-Gitlab-* headers, a plaintext X-Gitlab-Token or a Standard Webhooks
signature, push and tag push payloads (also inside system hooks).

Wire format: GitLab's "Webhook events" (push, tag push, system hooks) and "Webhooks" pages
(X-Gitlab-Token, Idempotency-Key) and the Standard Webhooks specification (signing tokens).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import ClassVar, Literal
from urllib.parse import urlsplit

from relay.gates.changes import changes_from_gitlab
from relay.hosts.base import (
    HEADS,
    JSON,
    PARSE,
    TAGS,
    Classified,
    DeliveryHeaders,
    EventKind,
    Host,
    Malformed,
    PushEvent,
    SignatureError,
    Source,
    delivery_key,
    find_commit,
    is_zero,
    lenient_str,
    not_acted_on,
    optional,
    present,
    ref_before_after,
    ref_name,
    required,
    required_header,
    storable,
    usable,
)

STANDARD_WEBHOOKS_TOLERANCE_S = 300  # Standard Webhooks convention: +-5 minutes
_DIGITS = re.compile(r"[0-9]{1,12}")
_PUSH_EVENTS = {"Push Hook": EventKind.PUSH, "Tag Push Hook": EventKind.TAG_PUSH}


def verify_token(name: str, value: str | None, secrets: Sequence[bytes]) -> None:
    """Check a plaintext shared token (GitLab `X-Gitlab-Token`).

    Both sides are hashed first so that the comparison takes the same time whatever the
    lengths: compare_digest alone returns early on a length mismatch.
    """
    # aiohttp decodes header bytes as UTF-8 with surrogateescape: this restores them.
    received = hashlib.sha256(present(name, value).encode("utf-8", "surrogateescape")).digest()
    keys = usable(name, secrets)
    if not any(hmac.compare_digest(received, hashlib.sha256(key).digest()) for key in keys):
        raise SignatureError(f"{name} does not match any configured token")


def sign_standard_webhook(signing_token: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return a `webhook-signature` value ("v1,<base64>") for a `whsec_...` signing token."""
    key = _standard_key(signing_token)
    if key is None:
        raise ValueError("a Standard Webhooks signing token starts with 'whsec_' and is base64")
    return "v1," + base64.b64encode(_standard_mac(key, msg_id, str(timestamp), body)).decode()


def verify_standard_webhook(
    body: bytes,
    secrets: Sequence[bytes],
    *,
    msg_id: str | None,
    timestamp: str | None,
    signature: str | None,
    now: datetime,
) -> None:
    """Check a Standard Webhooks `webhook-signature` (GitLab signing tokens).

    The keyword arguments are the webhook-id, -timestamp and -signature headers. Only secrets
    of the form `whsec_<base64>` are signing tokens; the HMAC key is their decoded base64 part.
    The timestamp must lie within STANDARD_WEBHOOKS_TOLERANCE_S of `now` (replay window).
    """
    msg_id = present("webhook-id", msg_id)
    timestamp = present("webhook-timestamp", timestamp)
    signature = present("webhook-signature", signature)
    if not _DIGITS.fullmatch(timestamp):
        raise SignatureError("malformed webhook-timestamp header: expected Unix seconds")
    if abs(now.timestamp() - int(timestamp)) > STANDARD_WEBHOOKS_TOLERANCE_S:
        raise SignatureError("webhook-timestamp is more than 5 minutes away from relay's clock")
    received = _standard_signatures(signature)
    keys = [key for s in secrets if (key := _standard_key(s)) is not None]
    if not keys:
        raise SignatureError("no whsec_ signing token is configured to check webhook-signature")
    for key in keys:
        expected = _standard_mac(key, msg_id, timestamp, body)
        if any(hmac.compare_digest(expected, candidate) for candidate in received):
            return
    raise SignatureError("webhook-signature does not match any configured signing token")


def _standard_key(secret: bytes) -> bytes | None:
    if not secret.startswith(b"whsec_"):
        return None
    try:
        return base64.b64decode(secret[6:], validate=True) or None
    except binascii.Error:
        return None


def _standard_mac(key: bytes, msg_id: str, timestamp: str, body: bytes) -> bytes:
    signed = f"{msg_id}.{timestamp}.".encode("utf-8", "surrogateescape") + body
    return hmac.digest(key, signed, "sha256")


def _standard_signatures(value: str) -> list[bytes]:
    """Decode the space-separated `v1,<base64>` entries; other versions are skipped."""
    found = []
    for entry in value.split():
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue
        try:
            found.append(base64.b64decode(encoded, validate=True))
        except binascii.Error:
            continue
    if not found:
        raise SignatureError("malformed webhook-signature header: expected 'v1,<base64>'")
    return found


class GitLab(Host):
    source: ClassVar[Source] = Source.GITLAB
    config_key: ClassVar[Literal["secret_env", "token_env"]] = "token_env"

    def event_kind_hint(self, headers: Mapping[str, str]) -> EventKind:
        event = (headers.get("x-gitlab-event") or "").strip()
        return _PUSH_EVENTS.get(event, EventKind.OTHER)

    def delivery_headers(self, headers: Mapping[str, str], body: bytes) -> DeliveryHeaders:
        event = required_header("X-Gitlab-Event", headers.get("x-gitlab-event"))
        # Idempotency-Key survives a re-send; X-Gitlab-Event-UUID and -Webhook-UUID do not.
        if not (headers.get("idempotency-key") or "").strip():  # GitLab before 17.4
            return DeliveryHeaders(event, hashlib.sha256(body).hexdigest(),
                                   (("X-Gitlab-Event", event),))
        key = delivery_key("Idempotency-Key", headers.get("idempotency-key"))
        return DeliveryHeaders(event, key, (("X-Gitlab-Event", event), ("Idempotency-Key", key)))

    def verify(self, headers: Mapping[str, str], body: bytes, payload: bytes | None,
               secrets: Sequence[bytes], now: datetime | None) -> None:
        """X-Gitlab-Token; a Standard Webhooks signature only when that header is absent."""
        token = headers.get("x-gitlab-token")
        signature = headers.get("webhook-signature")
        if token is not None or signature is None:
            verify_token("X-Gitlab-Token", token, secrets)
        elif now is None:
            raise SignatureError("missing X-Gitlab-Token header (webhook-signature needs a clock)")
        else:
            verify_standard_webhook(
                body, secrets, now=now, signature=signature,
                msg_id=headers.get("webhook-id"), timestamp=headers.get("webhook-timestamp"),
            )

    def classify(self, event: str, payload: JSON) -> Classified:
        if event in _PUSH_EVENTS:
            return PARSE
        if event != "System Hook":
            return not_acted_on(event)
        # Every system hook says `System Hook`; the payload names the event. The doc examples
        # leave out `object_kind`, so fall back on `event_name`, then on `ref`.
        name = payload.get("object_kind") or payload.get("event_name")
        if name in ("push", "tag_push") or (name is None and isinstance(payload.get("ref"), str)):
            return PARSE
        if name is None:
            return Classified(EventKind.OTHER,
                              "system hook without object_kind or event_name is not acted on")
        return Classified(EventKind.OTHER, f"system hook event {str(name)[:100]!r} is not acted on")

    def parse(self, payload: JSON, key: str, *, file_lists: bool = True) -> tuple[PushEvent, ...]:
        """GitLab's push and tag push payload; no created/deleted/forced flags.

        For an annotated tag `after` is the tag object and `checkout_sha` the commit it points
        at, so `checkout_sha` is what to deploy; it is null when the ref was deleted.
        """
        p = payload
        ref, before, after = ref_before_after(p)
        commit = optional(p, "checkout_sha", str) or after
        return (PushEvent(
            source=self.source, delivery_key=key, repository=_repository(p), ref=ref,
            branch=ref_name(ref, HEADS), tag=ref_name(ref, TAGS), before=before, after=after,
            commit=commit, created=is_zero(before), deleted=is_zero(after), forced=False,
            head_commit=find_commit(optional(p, "commits", list), commit),
            pusher=lenient_str(p, "user_username") or lenient_str(p, "user_name"),
            changes=changes_from_gitlab(p, file_lists=file_lists),
        ),)


def _repository(p: JSON) -> str:
    """`project.path_with_namespace`. Payloads older than `project` have only
    `repository.homepage`, whose URL path is the same unless GitLab has a relative URL root."""
    project = optional(p, "project", dict)
    if project is not None or "repository" not in p:
        return required(project or {}, "path_with_namespace", str, "project.")
    homepage = lenient_str(required(p, "repository", dict), "homepage") or ""
    try:
        path = urlsplit(homepage).path.strip("/").removesuffix(".git")
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise Malformed("field 'repository.homepage' is not a URL") from None
    if not path:
        raise Malformed("field 'project.path_with_namespace' missing")
    return storable("field 'repository.homepage'", path)
