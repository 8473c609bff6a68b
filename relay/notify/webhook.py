"""Pure: a notification as a signed JSON webhook (Standard Webhooks).

Body (UTF-8 JSON):
    {"type": "deployment.<event>", "timestamp": "<ISO 8601 UTC of the change>",
     "deployment": <the deployment object of the admin API>, "summary": "<one line>",
     "link": "<status page>" | null, "rollback": <the rollback deployment> (rollback only)}

Headers, per the Standard Webhooks specification
(https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md):
`webhook-id` (the message id, the same on every retry of one message, so receivers can
de-duplicate), `webhook-timestamp` (integer seconds since the epoch of this attempt) and
`webhook-signature: v1,<base64 HMAC-SHA256 over "{id}.{timestamp}.{body}">`.

The key: a secret of the spec's form `whsec_<base64>` is the base64-decoded remainder (what
Standard Webhooks libraries generate and expect); any other secret is used as its UTF-8
bytes (a verifier library then needs those bytes, not the string: docs/notifications.md).
Without a secret the webhook is sent unsigned (no `webhook-signature` header).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from typing import Any

from relay.deployment import iso
from relay.notify.message import JSON_HEADERS, Notification, Outgoing
from relay.secret import Secret

SECRET_PREFIX = "whsec_"
_MESSAGE_ID = re.compile(r"[A-Za-z0-9_\-]{1,128}")


def build_webhook(notification: Notification, *, secret: Secret | None, message_id: str,
                  timestamp: int) -> Outgoing:
    """The POST for a `webhook` sink, signed with `secret` when there is one.

    `message_id` is stable per message (e.g. `msg_<outbox id>`; letters, digits, `_`, `-`,
    at most 128); `timestamp` is the attempt's time in epoch seconds. Raises ValueError for
    a malformed message id or a `whsec_` secret that is not base64.
    """
    if not _MESSAGE_ID.fullmatch(message_id):
        raise ValueError("webhook message id must be 1-128 letters, digits, '_' or '-'")
    body = json.dumps(webhook_body(notification), ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")
    headers = {**JSON_HEADERS, "webhook-id": message_id, "webhook-timestamp": str(timestamp)}
    if secret is not None:
        headers["webhook-signature"] = sign(signing_key(secret), message_id, timestamp, body)
    return Outgoing(headers, body)


def webhook_body(n: Notification) -> dict[str, Any]:
    """The JSON object a `webhook` sink receives (see the module doc)."""
    body: dict[str, Any] = {"type": f"deployment.{n.event.value}", "timestamp": iso(n.at),
                            "deployment": dict(n.deployment), "summary": n.title,
                            "link": n.link}
    if n.rollback is not None:
        body["rollback"] = dict(n.rollback)
    return body


def signing_key(secret: Secret) -> bytes:
    """The HMAC key of a secret: `whsec_` + base64 decoded, else the UTF-8 bytes.

    Raises ValueError (naming where the secret came from, never its value) for an empty
    secret or a `whsec_` one whose rest is not base64.
    """
    where = f" (from {secret.source})" if secret.source else ""
    value = secret.reveal()
    if value.startswith(SECRET_PREFIX):
        rest = value[len(SECRET_PREFIX):]
        try:
            key = base64.b64decode(rest + "=" * (-len(rest) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"webhook secret{where} starts with {SECRET_PREFIX} but the "
                             "rest is not base64") from None
    else:
        key = value.encode("utf-8")
    if not key:
        raise ValueError(f"webhook secret{where} is empty")
    return key


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`."""
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")
