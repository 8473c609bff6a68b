"""Pure checks of admin API input: strict fields and parameters, versions, client addresses.

No I/O: each function takes plain values and returns a value or raises `InputError` (a 400
with a message naming what was wrong). The admin API (`relay.admin_api`) is the only caller.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from multidict import MultiMapping

from relay.deployment import DeploymentKind

MAX_ID = 2**63 - 1  # the stores' integer columns
MAX_LIST_LIMIT = 500
MAX_BODY_DEPTH_ERROR = "body is not valid JSON: nested too deeply"
MIN_PREFIX = 7  # git's own shortest abbreviation (core.abbrev default)
FULL_SHA_LENGTHS = (40, 64)  # SHA-1 and SHA-256 object names
# A commit-ish the platform can store: a SHA, a tag or branch name, an SVN revision. No
# spaces, no control characters, nothing outside printable ASCII (git check-ref-format is
# stricter still; this is the part that keeps the stores and the platform safe).
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/+@-]{0,254}")
_HEX = re.compile(r"[0-9a-f]+")
_TEXT_BAD = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
MAX_DELIVERY_ID = 512
MAX_REF = 1024
KINDS = tuple(k.value for k in DeploymentKind)  # the stored `kind` (docs/gates.md)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class InputError(Exception):
    """Input the admin API refuses with 400; `message` names the field or parameter."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def json_object(raw: bytes, *, allowed: Iterable[str]) -> dict[str, Any]:
    """Parse a JSON object body and refuse any key outside `allowed` (all named at once)."""
    try:
        body = json.loads(raw) if raw.strip() else {}
    except RecursionError:
        raise InputError(MAX_BODY_DEPTH_ERROR) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InputError("body must be a JSON object")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise InputError(f"unknown field{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(map(repr, unknown))}; allowed: {', '.join(allowed)}")
    return body


def check_query(query: MultiMapping[str], *, allowed: Sequence[str]) -> None:
    """Refuse query parameters outside `allowed`, and any given twice."""
    unknown = sorted(set(query) - set(allowed))
    if unknown:
        where = f"; allowed: {', '.join(allowed)}" if allowed else " (this path takes none)"
        raise InputError(f"unknown query parameter{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(map(repr, unknown))}{where}")
    repeated = sorted(k for k in set(query) if len(query.getall(k)) > 1)
    if repeated:
        raise InputError(f"query parameter {repeated[0]!r} given more than once")


def text_value(value: str, name: str, *, max_len: int = 255) -> str:
    """A path or query text both stores can hold: no control character (PostgreSQL refuses
    NUL in text), no lone surrogate, at most `max_len` characters."""
    if not value or len(value) > max_len:
        raise InputError(f"{name} must be 1 to {max_len} characters")
    if _TEXT_BAD.search(value):
        raise InputError(f"{name} must not contain control characters or lone surrogates")
    return value


def int_value(value: Any, name: str, *, low: int = 0) -> int:
    """A JSON or query integer in [low, MAX_ID]; booleans and floats are refused."""
    if isinstance(value, str):
        if not re.fullmatch(r"[0-9]{1,19}", value):
            raise InputError(f"{name} must be an integer, not {value[:40]!r}")
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"'{name}' must be an integer")
    if not low <= value <= MAX_ID:
        raise InputError(f"{name} must be between {low} and {MAX_ID}")
    return value


def limit_value(value: str | None, default: int = 50) -> int:
    limit = default if value is None else int_value(value, "limit")
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise InputError(f"limit must be between 1 and {MAX_LIST_LIMIT}")
    return limit


def since_value(value: str) -> datetime:
    """An ISO 8601 time with a timezone (`2026-11-29T10:00:00Z`), as an aware UTC datetime."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"since must be an ISO 8601 time such as 2026-11-29T10:00:00Z, "
                         f"not {value[:40]!r}") from None
    if parsed.tzinfo is None:
        raise InputError("since must carry a timezone (a Z or an offset such as +00:00)")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise InputError(f"since is out of range: {value[:40]!r}") from None


def kind_value(value: str) -> str:
    if value not in KINDS:
        raise InputError(f"kind must be one of {', '.join(KINDS)}")
    return value


def version_value(value: Any) -> str:
    """A version to deploy: 1-255 printable ASCII characters of a commit-ish, trimmed."""
    if not isinstance(value, str) or not value.strip():
        raise InputError("'version' must be a non-empty string")
    version = value.strip()
    if not _VERSION.fullmatch(version):
        raise InputError("'version' must be a commit SHA, tag or revision: 1-255 characters "
                         "of letters, digits and . _ / + @ -, starting with a letter or digit")
    return version


def is_short_sha(version: str) -> bool:
    """An abbreviated git SHA: lower-case hex with a letter, shorter than a full object name.

    All-digit versions are taken as they are (SVN revisions are numbers).
    """
    return (bool(_HEX.fullmatch(version)) and len(version) < FULL_SHA_LENGTHS[0]
            and not version.isdigit())


@dataclass(frozen=True, slots=True)
class Expansion:
    """What a short SHA becomes: the full version, or a refusal naming why."""

    version: str
    expanded_from: str | None = None


def expand_version(version: str, known: Sequence[str]) -> Expansion:
    """Expand `version` against the cluster's `known` versions that start with it.

    A full version or a non-SHA is kept; a short SHA of at least MIN_PREFIX characters that
    exactly one known version starts with becomes that version; anything else is refused
    (InputError), because the platform would pin the abbreviation and a later push of the
    full SHA would roll out a second time.
    """
    if not is_short_sha(version):
        return Expansion(version)
    candidates = sorted({k for k in known if k.startswith(version) and k != version})
    if len(version) >= MIN_PREFIX and len(candidates) == 1:
        return Expansion(candidates[0], expanded_from=version)
    if len(candidates) > 1:
        raise InputError(f"version {version!r} is ambiguous for this cluster: "
                         f"{', '.join(candidates[:5])}; give more characters or the full SHA")
    if len(version) < MIN_PREFIX:
        raise InputError(f"version {version!r} is a short SHA: give at least {MIN_PREFIX} "
                         "characters of a version relay deployed to this cluster, or the "
                         "full 40-character SHA")
    raise InputError(f"version {version!r} matches no version relay knows for this cluster: "
                     "give the full 40-character SHA")


def client_address(peer: str | None, forwarded_for: str | None,
                   trusted: Sequence[Network]) -> str:
    """The address an admin request came from, for the audit log.

    The peer address, unless the peer is a trusted proxy: then the right-most address of
    `X-Forwarded-For` that is not itself trusted (each proxy appends the address it saw, so
    only the entries added by trusted hops can be believed; MDN "X-Forwarded-For", security
    and privacy concerns). Unparseable entries end the walk. Returns "unknown" without a peer.
    """
    if not peer:
        return "unknown"
    if not _is_trusted(peer, trusted) or not forwarded_for:
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop if _parse_ip(hop) is not None else peer
    return hops[0] if hops else peer


def _is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    ip = _parse_ip(address)
    return ip is not None and any(ip in net for net in trusted)


def _parse_ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        return None


def deployment_kind(manual: bool, delivery_id: str | None) -> str:
    """push (from a webhook), manual (by hand), redelivery (a stored delivery again)."""
    if not manual:
        return "push"
    return "manual" if delivery_id is None else "redelivery"
