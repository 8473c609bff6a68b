"""Signing and verification primitives of every host (pure: hashing only), in one place.

The facade over relay/hosts/: GitHub's `X-Hub-Signature-256` (relay.hosts.github), GitLab's
token and Standard Webhooks signature (relay.hosts.gitlab), Gitea/Forgejo's bare-hex
signature (relay.hosts.gitea). Every check compares against each configured secret, so that
during a rotation either the old or the new secret verifies. Error messages name the header
and what is wrong with it, never a secret, a received token or an expected signature.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from relay.hosts import HOSTS
from relay.hosts.base import SignatureError, Source, first_header, fold_headers, form_payload
from relay.hosts.gitea import FAMILIES as GITEA_FAMILIES
from relay.hosts.gitea import sign_gitea, verify_gitea
from relay.hosts.github import sign_github, verify_github
from relay.hosts.gitlab import (
    STANDARD_WEBHOOKS_TOLERANCE_S,
    sign_standard_webhook,
    verify_standard_webhook,
    verify_token,
)

__all__ = [
    "GITEA_FAMILIES",
    "STANDARD_WEBHOOKS_TOLERANCE_S",
    "SignatureError",
    "first_header",
    "fold_headers",
    "form_payload",
    "sign_gitea",
    "sign_github",
    "sign_standard_webhook",
    "verify_delivery",
    "verify_gitea",
    "verify_github",
    "verify_standard_webhook",
    "verify_token",
]


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
    try:
        host = HOSTS[Source(source)]
    except ValueError:
        raise SignatureError(f"unknown source {source[:50]!r}") from None
    host.verify(folded, body, payload, secrets, now)
