"""Which bytes a delivery's signature covers, and whether they verify (pure: hashing only).

Wire formats: ../shared/webhook-protocol.md section 1.3 (GitHub), 2.1 (GitLab token and the
Standard Webhooks signing token), 3 (Gitea/Forgejo) and 5 (test vectors). Every check compares
against each configured secret, so that during a rotation either the old or the new secret
verifies. Error messages name the header and what is wrong with it, never a secret, a
received token or an expected signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from urllib.parse import unquote_to_bytes

STANDARD_WEBHOOKS_TOLERANCE_S = 300  # Standard Webhooks convention: +-5 minutes (section 2.1)

GITEA_FAMILIES = ("Gitea", "Forgejo", "Gogs")  # X-<family>-* header prefixes, preferred first
_GITEA_SIGNATURES = tuple(f"X-{family}-Signature" for family in GITEA_FAMILIES)
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_DIGITS = re.compile(r"[0-9]{1,12}")


class SignatureError(Exception):
    """Authenticity could not be established; `message` says why (safe to show the sender)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def sign_github(secret: bytes, body: bytes) -> str:
    """Return the `X-Hub-Signature-256` value for `body`: "sha256=" + hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def sign_gitea(secret: bytes, payload: bytes) -> str:
    """Return the `X-Gitea-Signature` value: bare hex HMAC-SHA256 of the JSON payload."""
    return hmac.new(secret, payload, hashlib.sha256).hexdigest()


def sign_standard_webhook(signing_token: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return a `webhook-signature` value ("v1,<base64>") for a `whsec_...` signing token."""
    key = _standard_key(signing_token)
    if key is None:
        raise ValueError("a Standard Webhooks signing token starts with 'whsec_' and is base64")
    return "v1," + base64.b64encode(_standard_mac(key, msg_id, str(timestamp), body)).decode()


def fold_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Lower-case header names (HTTP/2 sends them lower-cased); the first of repeats wins."""
    folded: dict[str, str] = {}
    for name, value in headers.items():
        folded.setdefault(name.lower(), value)
    return folded


def first_header(folded: Mapping[str, str], names: Sequence[str]) -> tuple[str, str | None]:
    """The first of `names` with a non-blank value: (name, value).

    When none has one, the first present (blank) one, else (names[0], None): Gitea sends its
    signature headers empty when the hook has no secret, and Forgejo adds X-Forgejo-*.
    """
    present = [(name, folded[name.lower()]) for name in names if name.lower() in folded]
    for name, value in present:
        if value.strip():
            return name, value
    return present[0] if present else (names[0], None)


def form_payload(body: bytes) -> bytes | None:
    """The url-decoded `payload` field of a form body, as bytes; None when there is none."""
    for pair in body.split(b"&"):
        name, _, value = pair.partition(b"=")
        if unquote_to_bytes(name.replace(b"+", b" ")) == b"payload":
            return unquote_to_bytes(value.replace(b"+", b" "))
    return None


def verify_delivery(
    source: str,
    folded: Mapping[str, str],
    body: bytes,
    payload: bytes | None,
    secrets: Sequence[bytes],
    *,
    now: datetime | None = None,
) -> None:
    """Verify a delivery of `source` ("github", "gitlab", "gitea") or raise SignatureError.

    `folded`: headers with lower-cased names; `body`: the raw body; `payload`: the JSON bytes
    (the body itself, or the decoded form field `payload`, None when a form has none).
    """
    if source == "github":
        verify_github(folded.get("x-hub-signature-256"), body, secrets)
    elif source == "gitea":
        name, value = first_header(folded, _GITEA_SIGNATURES)
        verify_gitea(name, value, payload or b"", secrets)
    elif source == "gitlab":
        _verify_gitlab(folded, body, secrets, now)
    else:
        raise SignatureError(f"unknown source {source[:50]!r}")


def _verify_gitlab(
    folded: Mapping[str, str], body: bytes, secrets: Sequence[bytes], now: datetime | None
) -> None:
    """X-Gitlab-Token; a Standard Webhooks signature only when that header is absent (2.1)."""
    token = folded.get("x-gitlab-token")
    signature = folded.get("webhook-signature")
    if token is not None or signature is None:
        verify_token("X-Gitlab-Token", token, secrets)
    elif now is None:
        raise SignatureError("missing X-Gitlab-Token header (webhook-signature needs a clock)")
    else:
        verify_standard_webhook(
            body, secrets, now=now, signature=signature,
            msg_id=folded.get("webhook-id"), timestamp=folded.get("webhook-timestamp"),
        )


def verify_github(value: str | None, body: bytes, secrets: Sequence[bytes]) -> None:
    """Check `X-Hub-Signature-256` over the raw body bytes, form-encoded or not (section 1.2)."""
    name = "X-Hub-Signature-256"
    value = _present(name, value)
    if value[:7].lower() != "sha256=":
        raise SignatureError(f"malformed {name} header: expected 'sha256=' and 64 hex digits")
    _check_hmac(name, _hex_digest(name, value[7:]), body, secrets)


def verify_gitea(name: str, value: str | None, payload: bytes, secrets: Sequence[bytes]) -> None:
    """Check a bare-hex Gitea/Forgejo/Gogs signature over the JSON payload (section 3)."""
    _check_hmac(name, _hex_digest(name, _present(name, value)), payload, secrets)


def verify_token(name: str, value: str | None, secrets: Sequence[bytes]) -> None:
    """Check a plaintext shared token (GitLab `X-Gitlab-Token`, section 2.1).

    Both sides are hashed first so that the comparison takes the same time whatever the
    lengths: compare_digest alone returns early on a length mismatch.
    """
    # aiohttp decodes header bytes as UTF-8 with surrogateescape: this restores them.
    received = hashlib.sha256(_present(name, value).encode("utf-8", "surrogateescape")).digest()
    keys = _usable(name, secrets)
    if not any(hmac.compare_digest(received, hashlib.sha256(key).digest()) for key in keys):
        raise SignatureError(f"{name} does not match any configured token")


def verify_standard_webhook(
    body: bytes,
    secrets: Sequence[bytes],
    *,
    msg_id: str | None,
    timestamp: str | None,
    signature: str | None,
    now: datetime,
) -> None:
    """Check a Standard Webhooks `webhook-signature` (GitLab signing tokens, section 2.1).

    The keyword arguments are the webhook-id, -timestamp and -signature headers. Only secrets
    of the form `whsec_<base64>` are signing tokens; the HMAC key is their decoded base64 part.
    The timestamp must lie within STANDARD_WEBHOOKS_TOLERANCE_S of `now` (replay window).
    """
    msg_id = _present("webhook-id", msg_id)
    timestamp = _present("webhook-timestamp", timestamp)
    signature = _present("webhook-signature", signature)
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


def _present(name: str, value: str | None) -> str:
    if value is None:
        raise SignatureError(f"missing {name} header")
    value = value.strip()
    if not value:
        # Gitea sends its signature headers empty when the hook has no secret (section 3).
        raise SignatureError(f"empty {name} header (is a secret set on the webhook?)")
    return value


def _hex_digest(name: str, value: str) -> bytes:
    # GitHub and Gitea send lowercase hex; accept either case, nothing else (no whitespace).
    if not _HEX64.fullmatch(value):
        raise SignatureError(f"malformed {name} header: expected 64 hex digits")
    return bytes.fromhex(value)


def _usable(name: str, secrets: Sequence[bytes]) -> list[bytes]:
    # An empty key would let anyone sign: relay never accepts unsigned deliveries.
    keys = [secret for secret in secrets if secret]
    if not keys:
        raise SignatureError(f"no secret is configured to check {name}")
    return keys


def _check_hmac(name: str, received: bytes, message: bytes, secrets: Sequence[bytes]) -> None:
    keys = _usable(name, secrets)
    if not any(
        hmac.compare_digest(hmac.digest(key, message, "sha256"), received) for key in keys
    ):
        raise SignatureError(f"{name} does not match any configured secret")


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
