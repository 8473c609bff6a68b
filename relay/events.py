"""Verify and parse GitHub, GitLab and Gitea deliveries into frozen values (pure: no I/O).

Wire details: ../shared/webhook-protocol.md. Nothing here awaits, reads a clock or touches a
socket; the HTTP layer hands in the raw body bytes and the headers. Checks run in the order
of CONTRACT section 4: media type (415), then authenticity (401, see relay/signatures.py),
then shape (400), so a sender that cannot sign learns nothing about what relay would accept.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from relay.signatures import (
    GITEA_FAMILIES,
    SignatureError,
    first_header,
    fold_headers,
    form_payload,
    sign_gitea,
    sign_github,
    verify_delivery,
)

__all__ = [
    "Delivery",
    "EventKind",
    "HeadCommit",
    "Malformed",
    "PushEvent",
    "Source",
    "Unauthorized",
    "UnsupportedMediaType",
    "WebhookError",
    "event_kind_hint",
    "parse_delivery",
    "sign_gitea",
    "sign_github",
]


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
    content_type: str  # the Content-Type header as received, e.g. "application/json"
    forward_headers: tuple[tuple[str, str], ...]  # provider event + delivery headers to forward
    # Set for every push, deleted or ignored ones included (so they are stored with their
    # repository and ref); None for ping and other events. Act on it only when `ignored` is None.
    push: PushEvent | None
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


_JSON = dict[str, Any]  # a decoded JSON object; raw payload dicts never leave this module
_T = TypeVar("_T")
_MEDIA_TYPES = {"application/json": False, "application/x-www-form-urlencoded": True}
_TAGS, _HEADS = "refs/tags/", "refs/heads/"
_Headers = tuple[tuple[str, str], ...]


def parse_delivery(
    source: Source,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[bytes],
    *,
    now: datetime | None = None,
) -> Delivery:
    """Check media type, then authenticity, then shape; return the verified delivery.

    Raises UnsupportedMediaType, then Unauthorized, then Malformed (that order wins).
    `secrets`: any one verifies (rotation); an empty sequence verifies nothing. `now` (aware)
    is needed only to check GitLab's Standard Webhooks `webhook-signature` (section 2.1).
    """
    folded = fold_headers(headers)
    content_type = folded.get("content-type")
    form = _is_form(content_type)
    # GitHub signs the raw body, Gitea the JSON inside a form body (sections 1.2 and 3).
    raw = form_payload(body) if form else body
    try:
        verify_delivery(source, folded, body, raw, secrets, now=now)
    except SignatureError as exc:
        raise Unauthorized(exc.message) from exc
    event, key, forward = _event_and_key(source, folded, body)
    payload = _decode(raw, form)
    kind, ignored = _classify(source, event, payload)
    if kind is not None:
        return Delivery(source, key, kind, event, content_type or "", forward, None, ignored)
    parse = _gitlab_push if source is Source.GITLAB else _hub_push
    push = parse(source, payload, key)
    kind = EventKind.TAG_PUSH if push.ref.startswith(_TAGS) else EventKind.PUSH
    return Delivery(source, key, kind, event, content_type or "", forward, push, _ignored(push))


def event_kind_hint(source: Source, headers: Mapping[str, str]) -> EventKind:
    """Guess the metric `event` label from headers alone (for deliveries refused early)."""
    folded = fold_headers(headers)
    if source is Source.GITLAB:
        event = (folded.get("x-gitlab-event") or "").strip()
        return {"Push Hook": EventKind.PUSH, "Tag Push Hook": EventKind.TAG_PUSH}.get(
            event, EventKind.OTHER
        )
    if source is Source.GITHUB:
        event = folded.get("x-github-event") or ""
    else:
        event = first_header(folded, _gitea_names("Event"))[1] or ""
    return {"push": EventKind.PUSH, "ping": EventKind.PING}.get(
        event.strip().lower(), EventKind.OTHER
    )


def _event_and_key(
    source: Source, headers: dict[str, str], body: bytes
) -> tuple[str, str, _Headers]:
    """The event name, the delivery key (CONTRACT section 4) and the headers to forward.

    Only the event and delivery headers are forwarded: never a signature or token.
    """
    if source is Source.GITHUB:
        event = _required_header("X-GitHub-Event", headers.get("x-github-event"))
        key = _required_header("X-GitHub-Delivery", headers.get("x-github-delivery"))
        return event, key, (("X-GitHub-Event", event), ("X-GitHub-Delivery", key))
    if source is Source.GITEA:
        event_name, event_value = first_header(headers, _gitea_names("Event"))
        key_name, key_value = first_header(headers, _gitea_names("Delivery"))
        event = _required_header(event_name, event_value)
        key = _required_header(key_name, key_value)
        return event, key, ((event_name, event), (key_name, key))
    event = _required_header("X-Gitlab-Event", headers.get("x-gitlab-event"))
    # Idempotency-Key survives a re-send; X-Gitlab-Event-UUID and -Webhook-UUID do not (2.1).
    idempotency_key = _printable("Idempotency-Key", (headers.get("idempotency-key") or "").strip())
    if not idempotency_key:  # GitLab before 17.4
        return event, hashlib.sha256(body).hexdigest(), (("X-Gitlab-Event", event),)
    return event, idempotency_key, (("X-Gitlab-Event", event), ("Idempotency-Key", idempotency_key))


def _gitea_names(suffix: str) -> tuple[str, ...]:
    return tuple(f"X-{family}-{suffix}" for family in GITEA_FAMILIES)


def _classify(source: Source, event: str, payload: _JSON) -> tuple[EventKind | None, str | None]:
    """(None, None) for a push to parse; otherwise the event kind and why it is ignored."""
    if source is not Source.GITLAB:
        lowered = event.lower()
        if lowered == "push":
            return None, None
        if lowered == "ping" and source is Source.GITHUB:
            return EventKind.PING, "ping"
        return EventKind.OTHER, f"event {event[:100]!r} is not acted on"
    if event in ("Push Hook", "Tag Push Hook"):
        return None, None
    if event != "System Hook":
        return EventKind.OTHER, f"event {event[:100]!r} is not acted on"
    # Every system hook says `System Hook`; the payload names the event. The doc examples
    # leave out `object_kind`, so fall back on `event_name`, then on `ref` (section 2.3).
    name = payload.get("object_kind") or payload.get("event_name")
    if name in ("push", "tag_push") or (name is None and isinstance(payload.get("ref"), str)):
        return None, None
    if name is None:
        return EventKind.OTHER, "system hook without object_kind or event_name is not acted on"
    return EventKind.OTHER, f"system hook event {str(name)[:100]!r} is not acted on"


def _ignored(push: PushEvent) -> str | None:
    """Why relay will not deploy this push, or None (CONTRACT section 4: 200 ignored)."""
    if push.branch is None and push.tag is None:
        return f"ref {push.ref[:200]} is not a branch or tag"
    if push.deleted:
        return "branch deleted" if push.branch is not None else "tag deleted"
    if not push.commit or _is_zero(push.commit):
        return "push has no commit to deploy"
    return None


# -- push payloads ----------------------------------------------------------------------------


def _hub_push(source: Source, p: _JSON, key: str) -> PushEvent:
    """GitHub's push payload (section 1.5), which Gitea/Forgejo copy with gaps (section 3).

    Gitea may leave out `head_commit` and the created/deleted/forced flags; then the head is
    the commit in `commits` whose id is `after`, and the flags follow from all-zero SHAs.
    For an annotated tag, GitHub's head_commit is the commit the tag points at.
    """
    ref, before, after = _ref_before_after(p)
    repository = _required(_required(p, "repository", dict), "full_name", str, "repository.")
    commits = _optional(p, "commits", list)
    head_obj = _optional(p, "head_commit", dict)
    head = _head_commit(head_obj, "head_commit.") if head_obj else _find_commit(commits, after)
    return PushEvent(
        source=source, delivery_key=key, repository=repository, ref=ref,
        branch=_ref_name(ref, _HEADS), tag=_ref_name(ref, _TAGS), before=before, after=after,
        commit=head.id if head else after,
        created=bool(_optional(p, "created", bool)) or _is_zero(before),
        deleted=bool(_optional(p, "deleted", bool)) or _is_zero(after),
        forced=bool(_optional(p, "forced", bool)),
        head_commit=head, pusher=_hub_pusher(p),
    )


def _gitlab_push(source: Source, p: _JSON, key: str) -> PushEvent:
    """GitLab's push and tag push payload (section 2.2, 2.3); no created/deleted/forced flags.

    For an annotated tag `after` is the tag object and `checkout_sha` the commit it points
    at, so `checkout_sha` is what to deploy; it is null when the ref was deleted.
    """
    ref, before, after = _ref_before_after(p)
    commit = _optional(p, "checkout_sha", str) or after
    return PushEvent(
        source=source, delivery_key=key, repository=_gitlab_repository(p), ref=ref,
        branch=_ref_name(ref, _HEADS), tag=_ref_name(ref, _TAGS), before=before, after=after,
        commit=commit, created=_is_zero(before), deleted=_is_zero(after), forced=False,
        head_commit=_find_commit(_optional(p, "commits", list), commit),
        pusher=_lenient_str(p, "user_username") or _lenient_str(p, "user_name"),
    )


def _gitlab_repository(p: _JSON) -> str:
    """`project.path_with_namespace`. Payloads older than `project` have only
    `repository.homepage`, whose URL path is the same unless GitLab has a relative URL root."""
    project = _optional(p, "project", dict)
    if project is not None or "repository" not in p:
        return _required(project or {}, "path_with_namespace", str, "project.")
    homepage = _lenient_str(_required(p, "repository", dict), "homepage") or ""
    path = urlsplit(homepage).path.strip("/").removesuffix(".git")
    if not path:
        raise Malformed("field 'project.path_with_namespace' missing")
    return path


def _ref_before_after(p: _JSON) -> tuple[str, str, str]:
    return _required(p, "ref", str), _required(p, "before", str), _required(p, "after", str)


def _ref_name(ref: str, prefix: str) -> str | None:
    return ref[len(prefix):] if ref.startswith(prefix) and len(ref) > len(prefix) else None


def _is_zero(sha: str) -> bool:
    """All zeros of any length: 40 for SHA-1 repositories, 64 for SHA-256 ones (section 2.3)."""
    return bool(sha) and not sha.strip("0")


def _hub_pusher(p: _JSON) -> str | None:
    # GitHub: pusher is a git identity {name, email}; Gitea: a user {login, username, ...}.
    pusher = p.get("pusher")
    if isinstance(pusher, dict):
        for field in ("login", "username", "name"):
            if value := _lenient_str(pusher, field):
                return value
    sender = p.get("sender")
    return _lenient_str(sender, "login") if isinstance(sender, dict) else None


def _find_commit(commits: list[Any] | None, commit_id: str) -> HeadCommit | None:
    """The last commit in `commits` with this id (GitLab and older Gitea send no head_commit)."""
    if not commits or _is_zero(commit_id):
        return None
    for index in range(len(commits) - 1, -1, -1):
        item = commits[index]
        if isinstance(item, dict) and item.get("id") == commit_id:
            return _head_commit(item, f"commits[{index}].")
    return None


def _head_commit(obj: _JSON, path: str) -> HeadCommit:
    message = _lenient_str(obj, "message") or ""
    timestamp = _parse_time(obj.get("timestamp"))
    return HeadCommit(id=_required(obj, "id", str, path), message=message, timestamp=timestamp)


def _parse_time(value: object) -> datetime | None:
    """ISO 8601 with an offset or Z (naive means UTC) -> aware UTC; anything else -> None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


# -- typed field access: a wrong JSON type is Malformed and names the field -------------------


def _optional(obj: _JSON, key: str, kind: type[_T], path: str = "") -> _T | None:
    value = obj.get(key)
    if value is None or isinstance(value, kind):
        return value
    expected, got = _json_type(kind), _json_type(type(value))
    raise Malformed(f"field {path + key!r} must be {expected}, not {got}")


def _required(obj: _JSON, key: str, kind: type[_T], path: str = "") -> _T:
    value = _optional(obj, key, kind, path)
    if value is None:
        raise Malformed(f"field {path + key!r} missing")
    return value


def _lenient_str(obj: _JSON, key: str) -> str | None:
    """An informational field (pusher, message): absent or of a wrong type is simply None."""
    value = obj.get(key)
    return value if isinstance(value, str) else None


def _json_type(kind: type) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    return names.get(kind, "null" if kind is type(None) else "a number")


# -- media type and body ----------------------------------------------------------------------


def _is_form(content_type: str | None) -> bool:
    """Accept JSON or form-encoded, parameters allowed (section 1.2); anything else is 415."""
    media = (content_type or "").partition(";")[0].strip().lower()
    if media not in _MEDIA_TYPES:
        shown = f"Content-Type {media[:100]!r}" if content_type else "missing Content-Type"
        raise UnsupportedMediaType(
            f"{shown}: expected application/json or application/x-www-form-urlencoded"
        )
    return _MEDIA_TYPES[media]


def _required_header(name: str, value: str | None) -> str:
    stripped = (value or "").strip()
    if not stripped:
        raise Malformed(f"missing {name} header")
    return _printable(name, stripped)


def _printable(name: str, value: str) -> str:
    # Event names and delivery ids are ASCII tokens (GUIDs, UUIDs); anything else would
    # only trouble the store, the logs and the headers forwarded to a hook.
    if not (value.isascii() and value.isprintable()):
        raise Malformed(f"malformed {name} header: expected printable ASCII")
    return value


def _decode(raw: bytes | None, form: bool) -> _JSON:
    """Parse the JSON object of a body (or of its form field `payload`)."""
    if raw is None:
        raise Malformed("form body has no 'payload' field")
    where = "form field 'payload'" if form else "body"
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise Malformed(
            f"{where} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except RecursionError as exc:
        raise Malformed(f"{where} is not valid JSON: nested too deeply") from exc
    except ValueError as exc:  # not UTF-8, or an integer beyond Python's digit limit
        raise Malformed(f"{where} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise Malformed(f"{where} is {_json_type(type(value))} in JSON, expected an object")
    return value
