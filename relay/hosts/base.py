"""What every git host shares (pure: no I/O): the values, the errors, the `Host` base class.

A host module (relay/hosts/github.py, gitlab.py, gitea.py) subclasses `Host` and fills in
five functions: the event kind hint, the delivery headers (event name, delivery key, headers
to forward), verification, classification and parsing. `parse_delivery` in
relay/hosts/__init__.py runs them in the order of the answer table (media type 415, then
authenticity 401, then shape 400). The shape of the base follows gidgethub's adapters: one
small base, a few dozen lines per host.

Everything this module lets through is storable by both stores (SQLite and PostgreSQL):
text read from a payload has no lone surrogate and no NUL, header values are printable
ASCII, a delivery key is at most MAX_DELIVERY_KEY characters (issue 16).
"""

from __future__ import annotations

import abc
import enum
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, TypeVar
from urllib.parse import unquote_to_bytes

try:  # the fast decoder of the common case; the standard library's decides every refusal
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency; kept for a bare install
    orjson = None  # type: ignore[assignment]
from relay.gates.changes import PushChanges

MAX_DELIVERY_KEY = 400  # characters; keeps the stores' (source, delivery_key) index rows small
ZERO_SHA = re.compile(r"0+")
TAGS, HEADS = "refs/tags/", "refs/heads/"

JSON = dict[str, Any]  # a decoded JSON object; raw payload dicts never leave relay.hosts
Headers = tuple[tuple[str, str], ...]
_T = TypeVar("_T")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


class Source(enum.StrEnum):
    """A git host relay accepts deliveries from: the `{source}` of /hooks/{source}."""

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
    # What the payload says about the changed files (relay.gates.changes), for the route
    # filters `paths` / `paths_ignore` / `skip_markers`; None when not read (a redelivery).
    changes: PushChanges | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One verified delivery: what relay stores and acts on.

    `pushes`: every push the delivery carries (GitHub, GitLab and Gitea send one; a host that
    sends several refs per delivery fits as well), deleted or ignored ones included, so that
    they are stored with their repository and ref; empty for ping and other events.
    `ignored`: why relay will not act on any of them, or None when at least one push is
    actionable (see `push_ignored` for each push's own reason).
    """

    source: Source
    delivery_key: str
    event: EventKind
    event_name: str  # the provider's own event header value, e.g. "push", "Push Hook"
    content_type: str  # the Content-Type header as received (printable ASCII)
    forward_headers: Headers  # provider event + delivery headers to forward
    pushes: tuple[PushEvent, ...]
    ignored: str | None

    @property
    def push(self) -> PushEvent | None:
        """The first push, or None: what the delivery row's repo/ref/commit columns hold."""
        return self.pushes[0] if self.pushes else None


class WebhookError(Exception):
    """A delivery refused: `status` (HTTP), `outcome` (metric label) and `message` say how."""

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


class SignatureError(Exception):
    """Authenticity could not be established; `message` says why (safe to show the sender)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class DeliveryHeaders:
    """What a host's headers name: its event, the delivery key and the headers to forward."""

    event: str
    key: str
    forward: Headers  # only the event and delivery headers: never a signature or token


@dataclass(frozen=True, slots=True)
class Classified:
    """A host's verdict on an event: `kind` None means "a push: parse it"."""

    kind: EventKind | None
    ignored: str | None = None


PARSE: Classified = Classified(None)


class Host(abc.ABC):
    """One git host: the five functions `parse_delivery` calls, and its config key.

    Implementations are stateless singletons; every method is pure. `headers` always has
    lower-cased names (see `fold_headers`).
    """

    source: ClassVar[Source]
    config_key: ClassVar[Literal["secret_env", "token_env"]]  # names the secret's variable

    @abc.abstractmethod
    def event_kind_hint(self, headers: Mapping[str, str]) -> EventKind:
        """The metric `event` label from headers alone (for deliveries refused early)."""

    @abc.abstractmethod
    def delivery_headers(self, headers: Mapping[str, str], body: bytes) -> DeliveryHeaders:
        """Event name, delivery key and headers to forward; Malformed when one is missing."""

    @abc.abstractmethod
    def verify(self, headers: Mapping[str, str], body: bytes, payload: bytes | None,
               secrets: Sequence[bytes], now: datetime | None) -> None:
        """Raise SignatureError unless one of `secrets` authenticates the delivery.

        `body`: the raw body; `payload`: the JSON bytes (the body itself, or a form body's
        `payload` field, None when a form has none); `now` (aware) for replay windows.
        """

    @abc.abstractmethod
    def classify(self, event: str, payload: JSON) -> Classified:
        """Whether the event is a push to parse, else its kind and why it is ignored."""

    @abc.abstractmethod
    def parse(self, payload: JSON, key: str, *, file_lists: bool = True) -> tuple[PushEvent, ...]:
        """The pushes of a payload `classify` called a push; Malformed names a bad field.

        `file_lists` False: each push's `changes` leaves the commits' file lists unread
        (relay.gates.changes); nothing else differs, validation included.
        """


# -- shared decisions ---------------------------------------------------------------------------


def push_ignored(push: PushEvent) -> str | None:
    """Why relay will not deploy this push, or None (answer table: 200 ignored)."""
    if push.branch is None and push.tag is None:
        return f"ref {push.ref[:200]} is not a branch or tag"
    if push.deleted:
        return "branch deleted" if push.branch is not None else "tag deleted"
    if not push.commit or is_zero(push.commit):
        return "push has no commit to deploy"
    return None


def kind_of(push: PushEvent) -> EventKind:
    return EventKind.TAG_PUSH if push.ref.startswith(TAGS) else EventKind.PUSH


def ref_name(ref: str, prefix: str) -> str | None:
    return ref[len(prefix):] if ref.startswith(prefix) and len(ref) > len(prefix) else None


def is_zero(sha: str) -> bool:
    """All zeros of any length: 40 for SHA-1 repositories, 64 for SHA-256 ones."""
    return ZERO_SHA.fullmatch(sha) is not None


def not_acted_on(event: str) -> Classified:
    return Classified(EventKind.OTHER, f"event {event[:100]!r} is not acted on")


def find_commit(commits: list[Any] | None, commit_id: str) -> HeadCommit | None:
    """The last commit in `commits` with this id (GitLab and older Gitea send no head_commit)."""
    if not commits or is_zero(commit_id):
        return None
    for index in range(len(commits) - 1, -1, -1):
        item = commits[index]
        if isinstance(item, dict) and item.get("id") == commit_id:
            return head_commit(item, f"commits[{index}].")
    return None


def head_commit(obj: JSON, path: str) -> HeadCommit:
    message = lenient_str(obj, "message") or ""
    timestamp = parse_time(obj.get("timestamp"))
    return HeadCommit(id=required(obj, "id", str, path), message=message, timestamp=timestamp)


def parse_time(value: object) -> datetime | None:
    """ISO 8601 with an offset or Z (naive means UTC) -> aware UTC; anything else -> None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def ref_before_after(p: JSON) -> tuple[str, str, str]:
    return required(p, "ref", str), required(p, "before", str), required(p, "after", str)


# -- typed field access: a wrong JSON type or an unstorable string is Malformed, named ---------


def storable(name: str, value: str) -> str:
    """`value` unchanged when both stores can hold it, else Malformed naming `name`.

    PostgreSQL refuses NUL in text and jsonb; neither store encodes a lone surrogate, which
    Python's JSON decoder produces from a `\\ud800` escape or from the raw bytes ED A0 80.
    """
    if "\x00" in value:
        raise Malformed(f"{name} contains a NUL character")
    if value.isascii():  # no surrogate in it: skip the encoding copy (most fields)
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Malformed(f"{name} contains a lone surrogate (not valid Unicode)") from None
    return value


def optional(obj: JSON, key: str, kind: type[_T], path: str = "") -> _T | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, kind):
        if isinstance(value, str):
            storable(f"field {path + key!r}", value)
        return value
    expected, got = json_type(kind), json_type(type(value))
    raise Malformed(f"field {path + key!r} must be {expected}, not {got}")


def required(obj: JSON, key: str, kind: type[_T], path: str = "") -> _T:
    value = optional(obj, key, kind, path)
    if value is None:
        raise Malformed(f"field {path + key!r} missing")
    return value


def lenient_str(obj: JSON, key: str) -> str | None:
    """An informational field (pusher, message): absent or of a wrong type is simply None."""
    value = obj.get(key)
    return value if isinstance(value, str) else None


def json_type(kind: type) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    return names.get(kind, "null" if kind is type(None) else "a number")


# -- headers ----------------------------------------------------------------------------------


class FoldedHeaders(dict[str, str]):
    """Headers whose names fold_headers has lower-cased already: folding them again returns
    them as they are (the webhook handler folds once, for the metric label and the parse)."""

    __slots__ = ()


def fold_headers(headers: Mapping[str, str]) -> FoldedHeaders:
    """Lower-case header names (HTTP/2 sends them lower-cased); the first of repeats wins."""
    if isinstance(headers, FoldedHeaders):
        return headers
    folded = FoldedHeaders()
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


def required_header(name: str, value: str | None) -> str:
    stripped = (value or "").strip()
    if not stripped:
        raise Malformed(f"missing {name} header")
    return printable(name, stripped)


def delivery_key(name: str, value: str | None) -> str:
    """A delivery key header: present, printable ASCII, at most MAX_DELIVERY_KEY characters."""
    key = required_header(name, value)
    if len(key) > MAX_DELIVERY_KEY:
        raise Malformed(f"{name} header longer than {MAX_DELIVERY_KEY} characters")
    return key


def printable(name: str, value: str) -> str:
    # Event names and delivery ids are ASCII tokens (GUIDs, UUIDs); anything else would
    # only trouble the store, the logs and the headers forwarded to a hook.
    if not (value.isascii() and value.isprintable()):
        raise Malformed(f"malformed {name} header: expected printable ASCII")
    return value


# -- bodies -----------------------------------------------------------------------------------


def form_payload(body: bytes) -> bytes | None:
    """The url-decoded `payload` field of a form body, as bytes; None when there is none."""
    for pair in body.split(b"&"):
        name, _, value = pair.partition(b"=")
        if unquote_to_bytes(name.replace(b"+", b" ")) == b"payload":
            return unquote_to_bytes(value.replace(b"+", b" "))
    return None


_UNDECODED = object()


def decode(raw: bytes | None, form: bool) -> JSON:
    """Parse the JSON object of a body (or of its form field `payload`); Malformed if not one."""
    if raw is None:
        raise Malformed("form body has no 'payload' field")
    where = "form field 'payload'" if form else "body"
    value: Any = _UNDECODED
    if orjson is not None:
        # orjson first (about 2.5x faster on a 4 KB push). What it refuses (bad JSON, but also
        # NaN, lone surrogates, a BOM, UTF-16, numbers past a double) goes to the standard
        # library, which decides the value or the exact error message, as without orjson.
        # One difference remains: orjson reads an integer past 64 bits as a float. No field
        # relay reads is a number (hosts read strings, objects, arrays and booleans), so the
        # answer is the same; only GitLab's "system hook event ... is not acted on" would show
        # such a number as a float.
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    try:
        if value is _UNDECODED:
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
        raise Malformed(f"{where} is {json_type(type(value))} in JSON, expected an object")
    return value


# -- signature primitives shared by the hosts -----------------------------------------------


def present(name: str, value: str | None) -> str:
    if value is None:
        raise SignatureError(f"missing {name} header")
    value = value.strip()
    if not value:
        # Gitea sends its signature headers empty when the hook has no secret.
        raise SignatureError(f"empty {name} header (is a secret set on the webhook?)")
    return value


def hex_digest(name: str, value: str) -> bytes:
    # GitHub and Gitea send lowercase hex; accept either case, nothing else (no whitespace).
    if not _HEX64.fullmatch(value):
        raise SignatureError(f"malformed {name} header: expected 64 hex digits")
    return bytes.fromhex(value)


def usable(name: str, secrets: Sequence[bytes]) -> list[bytes]:
    # An empty key would let anyone sign: relay never accepts unsigned deliveries.
    keys = [secret for secret in secrets if secret]
    if not keys:
        raise SignatureError(f"no secret is configured to check {name}")
    return keys


def check_hmac(name: str, received: bytes, message: bytes, secrets: Sequence[bytes]) -> None:
    """HMAC-SHA256 of `message` under any of `secrets` equals `received` (constant time)."""
    keys = usable(name, secrets)
    if not any(
        hmac.compare_digest(hmac.digest(key, message, "sha256"), received) for key in keys
    ):
        raise SignatureError(f"{name} does not match any configured secret")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
