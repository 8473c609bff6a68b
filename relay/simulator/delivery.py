"""Read the pushed commit out of a delivery posted to a web hook URL (pure)."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs

_SHA = re.compile(r"[0-9a-f]{7,64}")
_NULL_SHA = re.compile(r"0+")


def version_from_delivery(body: bytes, content_type: str) -> str | None:
    """The commit a push delivery points at (GitHub/Gitea `after`, GitLab `checkout_sha`).

    None when the body is not a push payload, or is a deletion (the all-zero commit): the
    platform then rebuilds the version it has.
    """
    payload = _payload(body, content_type)
    if not isinstance(payload, dict):
        return None
    for key in ("after", "checkout_sha"):
        value = payload.get(key)
        if isinstance(value, str) and _SHA.fullmatch(value) and not _NULL_SHA.fullmatch(value):
            return value
    return None


def _payload(body: bytes, content_type: str) -> object:
    try:
        if content_type == "application/x-www-form-urlencoded":
            # GitHub's form-encoded deliveries carry the JSON in a `payload` field.
            form = parse_qs(body.decode("utf-8"))
            return json.loads(form.get("payload", ["null"])[0])
        return json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None
