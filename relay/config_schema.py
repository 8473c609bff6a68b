"""The shape of relay.yaml as pydantic v2 models: types, ranges and per-key formats.

Pure (no environment, no files). The models give two things:

- validation of a loaded YAML document, every problem at once, rendered by `problems_of`
  into relay's own messages (`server.port: must be between 1 and 65535, got 0`) - pydantic's
  own wording and the offending input are never shown, since an input may be a secret;
- the JSON Schema of the file (`json_schema()`, `relay check-config --schema`), which editors
  use through yaml-language-server.

Environment variable names (`*_env` keys) are only described here; relay.config_env checks
them, and the environment. Rules across keys live in relay.config_rules.
"""

from __future__ import annotations

import ipaddress
import math
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

from relay.config_problems import ConfigProblem, describe, join, suggest
from relay.events import Source
from relay.globs import GlobError, compile_glob
from relay.hosts import HOSTS
from relay.settings import Action

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
SOURCE_KEY = {source: host.config_key for source, host in HOSTS.items()}
SECTIONS = ("server", "store", "cluster_api", "sources", "admin", "rollout", "logging", "routes",
            "report", "notify", "reconcile", "retention",
            "holds", "skip_markers")
BASE_URL_HELP = ("set cluster_api.base_url to your platform's URL (https://open.c.163.com) "
                 "or `embedded` for a demo")
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)\Z")
_PLACEHOLDER = re.compile(r"change.?me|<.*>|\btodo\b|\bxxx+\b|example\.(com|org|net)\b", re.I)


def _fail(message: str) -> PydanticCustomError:
    # The message goes through the context, so braces in it (a glob) are not placeholders.
    return PydanticCustomError("relay", "{message}", {"message": message})


def _quoted_number(value: object) -> str:
    numeric = isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+(\.\d*)?\s*", value)
    return " (write it without quotes)" if numeric else ""


# -- leaf types: each checks its own type and range, with relay's message ----------------------


def Int(minimum: int = 1, maximum: int | None = None) -> Any:  # noqa: N802 - a type factory
    """An integer in [minimum, maximum]; a boolean or a quoted number is not one."""
    bounds = (f"between {minimum} and {maximum}" if maximum is not None
              else "a positive integer" if minimum == 1 else f"at least {minimum}")

    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(f"must be an integer, got {describe(value)}{_quoted_number(value)}")
        if value < minimum or (maximum is not None and value > maximum):
            raise _fail(f"must be {bounds}, got {value}")
        return value

    schema: dict[str, Any] = {"type": "integer", "minimum": minimum}
    if maximum is not None:
        schema["maximum"] = maximum
    return Annotated[int, BeforeValidator(check), WithJsonSchema(schema)]


def _seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(f"must be a number, got {describe(value)}{_quoted_number(value)}")
    if not math.isfinite(value) or value <= 0:
        raise _fail(f"must be a positive number, got {value}")
    return float(value)


Seconds = Annotated[float, BeforeValidator(_seconds),
                    WithJsonSchema({"type": "number", "exclusiveMinimum": 0})]


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise _fail(f"must be a string, got {describe(value)}")
    if not value.strip():
        raise _fail("must not be empty")
    return value.strip()


Text = Annotated[str, BeforeValidator(_text),
                 WithJsonSchema({"type": "string", "minLength": 1, "pattern": r"\S"})]


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)


def Choice(choices: Iterable[str], noun: str = "value") -> Any:  # noqa: N802 - a type factory
    """One of `choices`, compared in lower case; stored in lower case."""
    allowed = tuple(str(choice) for choice in choices)

    def check(value: object) -> str:
        if not isinstance(value, str):
            raise _fail(f"must be a string, got {describe(value)}")
        if value.lower() not in allowed:
            raise _fail(f"unknown {noun} '{value}' (allowed: {', '.join(allowed)})")
        return value.lower()

    pattern = "^(" + "|".join(_any_case(choice) for choice in allowed) + ")$"
    schema = {"type": "string", "anyOf": [{"enum": list(allowed)}, {"pattern": pattern}]}
    return Annotated[str, BeforeValidator(check), WithJsonSchema(schema)]


ENV_SCHEMA: dict[str, Any] = {"type": "string", "pattern": ENV_NAME_PATTERN}
# An environment variable name (or a list of them): checked by relay.config_env, so that the
# name's format, and the variable, are reported with one path rule, with or without --no-env.
EnvName = Annotated[Any, WithJsonSchema(ENV_SCHEMA)]
EnvNames = Annotated[Any, WithJsonSchema({"anyOf": [
    ENV_SCHEMA, {"type": "array", "items": ENV_SCHEMA, "minItems": 1}]})]


# -- formats of single keys ---------------------------------------------------------------------


def _glob(value: object, *, ignore_case: bool = False) -> str:
    if not isinstance(value, str):
        raise _fail(f"must be a string, got {describe(value)} (quote it)")
    if not value:
        raise _fail("must not be empty")
    if any(char.isspace() for char in value):
        raise _fail(f"'{value}' contains whitespace, which names and refs never do")
    try:
        compile_glob(value, ignore_case=ignore_case)
    except GlobError as exc:
        raise _fail(f"bad glob '{value}': {exc}") from exc
    return value


_REPO_URL = re.compile(r"(?:[a-z][a-z0-9+.-]*://[^/]+/|[^@/\s]+@[^:/\s]+:)(?P<path>.+)", re.I)


def _repo(value: object) -> str:
    """A repository glob: owner/name as the host spells it, never a URL or a clone address."""
    if isinstance(value, str):
        url = _REPO_URL.match(value)
        if url:
            name = url["path"].strip("/").removesuffix(".git")
            raise _fail(f"'{value}' is a URL: write repo: {name} (owner/name as the host "
                        "shows it, without scheme, host or .git)")
        if value.endswith(".git"):
            raise _fail(f"write repo: {value.removesuffix('.git')} (without .git): relay "
                        "matches the repository's name, not its clone address")
    repo = _glob(value, ignore_case=True)
    if "/" not in repo and "**" not in repo:
        raise _fail(f"'{repo}' has no '/': repositories are owner/name or "
                    "group/subgroup/project ('**' matches any)")
    return repo


def _ref(kind: str) -> Callable[[object], str]:
    prefix = {"branch": "refs/heads/", "tag": "refs/tags/"}

    def check(value: object) -> str:
        if isinstance(value, str):
            for other, other_prefix in prefix.items():
                if value.startswith(other_prefix):
                    bare = value.removeprefix(other_prefix)
                    raise _fail(f"write {other}: {bare} (without {other_prefix}): a route "
                                f"matches the {other} name, so '{value}' would never match")
        return _glob(value)

    return check


REPO_DESCRIPTION = "repository glob: owner/name (or group/subgroup/project); not a URL"
Repo = Annotated[str, BeforeValidator(_repo),
                 WithJsonSchema({"type": "string", "minLength": 1, "pattern": r"^[^\s]*$",
                                 "not": {"pattern": r"^([a-zA-Z][a-zA-Z0-9+.-]*://|[^@/]+@)"}})]
Branch = Annotated[str, BeforeValidator(_ref("branch")),
                   WithJsonSchema({"type": "string", "minLength": 1, "pattern": r"^[^\s]*$",
                                   "not": {"pattern": "^refs/"}})]
Tag = Annotated[str, BeforeValidator(_ref("tag")),
                WithJsonSchema({"type": "string", "minLength": 1, "pattern": r"^[^\s]*$",
                                "not": {"pattern": "^refs/"}})]


def _store_url(value: object) -> str:
    url = _text(value)
    scheme, _, rest = url.partition("://")
    if scheme == "sqlite" and rest.startswith("/") and len(rest) > 1:
        return url
    if scheme in ("postgresql", "postgres") and rest:
        parts = urlsplit(url)
        in_query = any(k.lower() in ("password", "sslpassword")
                       for k, _ in parse_qsl(parts.query, keep_blank_values=True))
        if ":" in parts.netloc.rpartition("@")[0] or in_query:
            raise _fail("has a password in it: secrets live in the environment "
                        "(set PGPASSWORD, or use a .pgpass file)")
        return url
    raise _fail("must be sqlite:///PATH or postgresql://USER@HOST:PORT/DB")


StoreUrl = Annotated[str, BeforeValidator(_store_url), WithJsonSchema(
    {"type": "string", "pattern": r"^(sqlite:///.|postgres(ql)?://.)"})]


def _base_url(value: object) -> str:
    if isinstance(value, str) and (not value.strip() or _PLACEHOLDER.search(value)):
        raise _fail(BASE_URL_HELP)
    url = _text(value)
    if url == "embedded":
        return url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail("must be 'embedded' or an http(s) URL such as https://open.c.163.com")
    if parts.username is not None or parts.password is not None:
        raise _fail("must not carry credentials: the token comes from token_env")
    if parts.query or parts.fragment:
        raise _fail("must not have a query or a fragment")
    return url.rstrip("/")


BaseUrl = Annotated[str, BeforeValidator(_base_url), WithJsonSchema(
    {"type": "string", "anyOf": [{"const": "embedded"}, {"pattern": r"^https?://[^/\s@]+"}]})]


def _is_host(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        labels = text.removesuffix(".").split(".")
        return len(text) <= 253 and all(_HOST_LABEL.match(label) for label in labels)


def split_host_port(entry: str) -> tuple[str, int | None] | None:
    """`host`, `host:port`, `v6`, `[v6]` or `[v6]:port` -> (host, port or None); None if bad."""
    port: str | None = None
    if entry.startswith("["):
        host, closed, rest = entry[1:].partition("]")
        if not closed or ":" not in host or (rest and not rest.startswith(":")):
            return None
        port = rest[1:] if rest else None
    elif entry.count(":") > 1:  # a bare IPv6 address
        host = entry
    elif ":" in entry:
        host, port = entry.split(":")
    else:
        host = entry
    if not _is_host(host):
        return None
    if port is None:
        return host, None
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        return None
    return host, int(port)


def _hook_host(value: object) -> str:
    entry = value.strip().lower() if isinstance(value, str) else ""
    if not entry or split_host_port(entry) is None:
        raise _fail("must be a host name or host:port such as hooks.example.com or "
                    "hooks.example.com:8443 (no scheme or path)")
    return entry


HookHost = Annotated[str, BeforeValidator(_hook_host), WithJsonSchema(
    {"type": "string", "pattern": r"^[^/\s@]+$"})]


def _network(value: object) -> str:
    if not isinstance(value, str):
        raise _fail(f"must be an IP address or network such as 10.0.0.0/8, got "
                    f"{describe(value)}")
    try:
        ipaddress.ip_network(value.strip(), strict=True)
    except ValueError as exc:
        try:
            loose = ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            raise _fail(f"'{value}' is not an IP address or network such as 10.0.0.0/8 or "
                        "2001:db8::/32") from exc
        raise _fail(f"'{value}' has host bits set: write {loose}") from exc
    return value.strip()


Network = Annotated[str, BeforeValidator(_network), WithJsonSchema(
    {"type": "string", "pattern": r"^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$"})]


def _list_of(what: str) -> Callable[[object], object]:
    def check(value: object) -> object:
        if value is None:
            return []
        if not isinstance(value, list):
            raise _fail(f"must be a list of {what}, got {describe(value)}")
        return value

    return check


# -- the models ---------------------------------------------------------------------------------


class Section(BaseModel):
    """A mapping of the file: unknown keys are errors; a key left empty means the defaults."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True,
                              json_schema_extra={"additionalProperties": False})
    noun: ClassVar[str] = "key"  # what an unknown key is called in a message
    hints: ClassVar[Mapping[str, str]] = {}  # a message for a known mistaken key

    @model_validator(mode="before")
    @classmethod
    def _null_is_empty(cls, data: object) -> object:
        return {} if data is None else data


class ServerSection(Section):
    """`server`: where relay listens, and how much one client may take."""

    host: Text = Field("127.0.0.1", description="address to listen on (0.0.0.0: every IPv4 "
                       "interface)")
    port: Int(1, 65535) = Field(8080, description="TCP port")  # type: ignore[valid-type]
    max_body_bytes: Int() = Field(  # type: ignore[valid-type]
        5_242_880, description="larger deliveries are refused with 413")
    shutdown_timeout_s: Seconds = Field(
        10.0, description="on SIGTERM, how long in-flight requests may take to finish")
    header_timeout_s: Seconds = Field(10.0, description="longest to receive a request's headers")
    body_timeout_s: Seconds = Field(30.0, description="longest to receive a request's body")
    idle_timeout_s: Seconds = Field(30.0, description="a keep-alive connection idle this long "
                                    "is closed")
    max_connections: Int(1, 1_000_000) = Field(  # type: ignore[valid-type]
        900, description="open connections at most; keep below the process's file limit")
    max_body_memory_bytes: Int() = Field(  # type: ignore[valid-type]
        67_108_864, description="bytes of request bodies being read at once; beyond it 503 "
        "with Retry-After")
    trusted_proxies: Annotated[list[Network], BeforeValidator(_list_of(
        "IP addresses or networks"))] = Field(
        default_factory=list, description="addresses or CIDR networks whose X-Forwarded-For "
        "header is believed")


class StoreSection(Section):
    """`store`: where deliveries and deployments are kept."""

    url: StoreUrl = Field("sqlite:///relay.db", description="sqlite:///PATH (one process) or "
                          "postgresql://USER@HOST:PORT/DB (password from PGPASSWORD)")
    pool_size: Int(1, 1000) = Field(  # type: ignore[valid-type]
        10, description="PostgreSQL: connections per replica (plus one that listens)")
    connect_timeout_s: Seconds = Field(5.0, description="PostgreSQL: opening a connection, or "
                                       "waiting for a free one")
    query_timeout_s: Seconds = Field(5.0, description="PostgreSQL: longest one statement may run")


class ClusterApiSection(Section):
    """`cluster_api`: the container platform relay deploys to."""

    base_url: BaseUrl = Field("embedded", description="the API's http(s) URL, e.g. "
                              "https://open.c.163.com; `embedded`: an in-process simulator (demo)")
    token_env: EnvName = Field("RELAY_API_TOKEN", description="NAME of the variable holding "
                               "the API token (required)")
    request_timeout_s: Seconds = Field(10.0, description="one API request")
    watch_timeout_s: Seconds = Field(60.0, description="longest one watch long-poll is held")
    retry_total_s: Seconds = Field(45.0, description="longest the client retries one call: "
                                   "no attempt starts after this")
    hook_hosts: Annotated[list[HookHost], BeforeValidator(_list_of("host names"))] = Field(
        default_factory=list, description="hosts (or host:port) a web_hook_url may point at "
        "besides base_url's host")
    max_response_bytes: Int() = Field(  # type: ignore[valid-type]
        16_777_216, description="cap on one answer from the cluster API or a hook URL")


def _api_url(value: object) -> str:
    url = _text(value)
    if url == "embedded":
        return url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail("must be 'embedded' or an http(s) URL such as https://api.github.com "
                    "(GitHub Enterprise: https://HOST/api/v3, GitLab: .../api/v4, "
                    "Gitea: .../api/v1)")
    if parts.username is not None or parts.password is not None:
        raise _fail("must not carry credentials: the token comes from token_env")
    if parts.query or parts.fragment:
        raise _fail("must not have a query or a fragment")
    return url.rstrip("/")


ApiUrl = Annotated[str, BeforeValidator(_api_url), WithJsonSchema(
    {"type": "string", "anyOf": [{"const": "embedded"}, {"pattern": r"^https?://[^/\s@]+"}]})]


class GitApiSection(Section):
    """`sources.<host>.api`: the host's API, to report deployments back (docs/reporting.md)."""

    url: ApiUrl = Field(description="the API base URL (GitHub Enterprise https://HOST/api/v3, "
                        "GitLab .../api/v4, Gitea .../api/v1), or embedded: an in-process fake")
    token_env: EnvName = Field(description="NAME of the variable holding a token allowed to "
                               "write commit statuses and deployments")


class _SourceSection(Section):
    noun: ClassVar[str] = "key"
    api: GitApiSection | None = Field(None, description="the host's API: relay reports "
                                      "deployments back to the commit")


class SignedSourceSection(_SourceSection):
    """A host that signs deliveries with a shared secret (GitHub, Gitea/Forgejo)."""

    hints: ClassVar[Mapping[str, str]] = {
        "token_env": "this source signs deliveries with a shared secret: use secret_env"}
    secret_env: EnvNames = Field(description="NAME(s) of the variable(s) holding the webhook "
                                 "secret; any one verifies (rotation)")


class TokenSourceSection(_SourceSection):
    """A host that sends a shared token with each delivery (GitLab)."""

    hints: ClassVar[Mapping[str, str]] = {
        "secret_env": "gitlab sends a token, not a signature: use token_env"}
    token_env: EnvNames = Field(description="NAME(s) of the variable(s) holding the secret "
                                "token; any one verifies (rotation)")


class _SourcesBase(Section):
    """`sources`: the git hosts relay accepts deliveries from; one left out is off."""

    noun: ClassVar[str] = "source"

    @model_validator(mode="before")
    @classmethod
    def _null_source_is_empty(cls, data: object) -> object:
        # `gitea:` with nothing under it configures the source, without its key: say so.
        if isinstance(data, dict):
            return {key: {} if value is None else value for key, value in data.items()}
        return data



# One optional key per git host of relay.hosts.HOSTS, shaped by the key that names its secret.
_SECTION_FOR_KEY: Mapping[str, type[_SourceSection]] = {
    "secret_env": SignedSourceSection, "token_env": TokenSourceSection}
if TYPE_CHECKING:  # its fields are made at import time; readers use getattr(sources, name)
    SourcesSection = _SourcesBase
else:
    SourcesSection = create_model(
        "SourcesSection", __base__=_SourcesBase, __doc__=_SourcesBase.__doc__,
        **{source.value: (_SECTION_FOR_KEY[host.config_key] | None, None)
           for source, host in HOSTS.items()})


class AdminSection(Section):
    """`admin`: the admin API, on while its token variable is set."""

    token_env: EnvName = Field("RELAY_ADMIN_TOKEN", description="NAME of the variable holding "
                               "the bearer token for /api/*; unset: the admin API is off")


class RolloutSection(Section):
    """`rollout`: how long relay follows a rollout, and the worker's lease."""

    timeout_s: Seconds = Field(900.0, description="a rollout not finished after this ends "
                               "timed_out")
    lease_s: Seconds | None = Field(None, description="a crashed worker's deployment is "
                                    "resumed after this; at least retry_total_s + 2 x "
                                    "request_timeout_s (default: that minimum, at least 30)")
    poll_interval_s: Seconds = Field(1.0, description="at most one watch per interval")


class LoggingSection(Section):
    """`logging`: level and format of relay's log lines."""

    level: Choice(("debug", "info", "warning", "error")) = "info"  # type: ignore[valid-type]
    format: Choice(("auto", "json", "console")) = "auto"  # type: ignore[valid-type]


class ReconcileSection(Section):
    """`reconcile`: catch-up, reading branch heads from the git hosts' APIs."""

    interval_s: Int(0) = Field(  # type: ignore[valid-type]
        300, description="seconds between two reads of every routed branch head (with "
        "jitter); 0: catch-up is off")


class RetentionSection(Section):
    """`retention`: how long stored deliveries and finished deployments are kept."""

    deliveries_days: Int() = Field(  # type: ignore[valid-type]
        30, description="deliveries received longer ago than this are deleted")
    deployments_days: Int() = Field(  # type: ignore[valid-type]
        365, description="finished deployments created longer ago than this are deleted")


class VersionControlSection(Section):
    """A route's `version_control` block, sent along with the new version."""

    hints: ClassVar[Mapping[str, str]] = {
        "password": "secrets live in the environment: use password_env",
        "version": "relay sets the version itself, to the pushed commit",
    }
    type: Choice(("git", "svn")) | None = None  # type: ignore[valid-type]
    path: Text | None = Field(None, description="repository URL")
    subdir: Text | None = None
    branch: Text | None = None
    account: Text | None = None
    password_env: EnvName | None = Field(None, description="NAME of the variable holding the "
                                         "password")


def _public_url(value: object) -> str:
    url = _text(value)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail("must be an http(s) URL such as https://relay.example.com")
    if parts.username is not None or parts.password is not None or parts.query:
        raise _fail("must not carry credentials or a query")
    return url.rstrip("/")


def _context(value: object) -> str:
    text = _text(value)
    rest = text.replace("{cluster}", "").replace("{environment}", "")
    if not text.strip() or "{" in rest or "}" in rest:
        raise _fail("must be a non-empty name; only {cluster} and {environment} are filled in")
    return text


PublicUrl = Annotated[str, BeforeValidator(_public_url),
                      WithJsonSchema({"type": "string", "pattern": r"^https?://"})]
Context = Annotated[str, BeforeValidator(_context), WithJsonSchema({"type": "string"})]


class ReportSection(Section):
    """`report`: what relay reports back to the git hosts whose source has an `api`."""

    commit_status: bool = Field(True, description="a commit status per (commit, cluster)")
    deployments: bool = Field(True, description="GitHub Deployments / GitLab deployments "
                              "(Gitea: commit statuses only)")
    context: Context = Field("relay/{cluster}", description="the status context; {cluster} "
                             "and {environment} are filled in")
    public_url: PublicUrl | None = Field(None, description="base of the target_url links "
                                         "({public_url}/ui/deployments/{id}); none: no link")
    max_age_s: Seconds = Field(86_400.0, description="a message not delivered by then is "
                               "dropped (and counted)")


NOTIFY_STATUSES = ("succeeded", "failed", "timed_out", "error", "rollback", "superseded",
                   "skipped", "held", "waiting_checks", "canceled")


class NotifySection(Section):
    """One `notify` entry: a chat or webhook sink for deployment status changes."""

    name: Annotated[str, BeforeValidator(_text)] = Field(
        description="unique; the `sink` label of relay_notifications_total")
    type: Choice(("slack", "teams", "webhook"), "type") = Field(  # type: ignore[valid-type]
        description="slack | teams | webhook")
    url_env: EnvName = Field(description="NAME of the variable holding the sink's URL "
                             "(a secret: environment only)")
    secret_env: EnvName | None = Field(None, description="webhook only: NAME of the variable "
                                       "holding the signing secret (Standard Webhooks)")
    on: list[Choice(NOTIFY_STATUSES, "status")] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["failed", "timed_out", "error", "rollback"],
        description="the statuses that notify")
    clusters: list[Int()] = Field(  # type: ignore[valid-type]
        default_factory=list, description="only these clusters (empty: all)")
    repos: list[Annotated[str, BeforeValidator(_text)]] = Field(
        default_factory=list, description="only repos matching these globs (empty: all)")
class WaitForChecksSection(Section):
    """A route's `wait_for_checks` block (docs/gates.md, "Checks")."""

    timeout_s: Int(1, 7 * 86400) = Field(  # type: ignore[valid-type]
        3600, description="after this a waiting deployment is skipped (or deployed, per "
        "on_timeout)")
    contexts: Annotated[list[Text], BeforeValidator(_list_of("check names"))] = Field(
        default_factory=list, description="the required check names; empty: every reported one")
    on_timeout: Choice(("skip", "deploy")) = Field(  # type: ignore[valid-type]
        "skip", description="skip: the deployment ends skipped; deploy: it is queued")


GlobList = Annotated[list[Text], BeforeValidator(_list_of("globs"))]
MarkerList = Annotated[list[Text], BeforeValidator(_list_of("skip markers"))]
DEFAULT_SKIP_MARKERS = ["[skip ci]", "[ci skip]", "[no ci]", "[skip deploy]", "[deploy skip]"]


class RouteSection(Section):
    """One route: pushes of `repo` to `branch` (or `tag`) deploy `cluster`."""

    hints: ClassVar[Mapping[str, str]] = {
        "repository": "unknown key (did you mean 'repo'?)",
        "ref": "unknown key: write branch: NAME or tag: PATTERN",
        "cluster_id": "unknown key (did you mean 'cluster'?)",
    }
    @model_validator(mode="before")
    @classmethod
    def _null_is_empty(cls, data: object) -> object:
        return data  # a route left empty is no route: "must be a mapping, got null"

    repo: Repo = Field(description=REPO_DESCRIPTION)
    branch: Branch | None = Field(None, description="branch glob, without refs/heads/")
    tag: Tag | None = Field(None, description="tag glob, without refs/tags/")
    cluster: Int() = Field(description="the cluster (app) id")  # type: ignore[valid-type]
    action: Choice(tuple(Action), "action") = Field(  # type: ignore[valid-type]
        description="version: set the cluster's version; hook: forward the delivery")
    source: Choice(tuple(Source), "source") | None = None  # type: ignore[valid-type]
    version_control: VersionControlSection | None = None
    environment: Annotated[str, BeforeValidator(_text)] | None = Field(
        None, description="the GitHub / GitLab environment reported (default cluster-{id})")
    # Deploy gates (docs/gates.md).
    paths: GlobList | None = Field(None, description="branch pushes deploy only when a "
                                   "changed file matches one of these globs")
    paths_ignore: GlobList | None = Field(None, description="branch pushes whose changed "
                                          "files all match these globs do not deploy")
    skip_markers: MarkerList | None = Field(None, description="this route's own skip markers "
                                            "([] for none); default: the top-level list")
    on_failure: Choice(("none", "rollback")) = Field(  # type: ignore[valid-type]
        "none", description="rollback: a failed automatic deployment queues the last good "
        "version and quarantines the failed one (action: version only)")
    wait_for_checks: WaitForChecksSection | None = Field(
        None, description="wait until the commit's checks are green (needs the source's api)")


class RelayConfig(Section):
    """relay's configuration file (docs/configuration.md)."""

    model_config = ConfigDict(title="relay configuration")
    noun: ClassVar[str] = "section"
    server: ServerSection = ServerSection.model_validate({})
    store: StoreSection = StoreSection.model_validate({})
    cluster_api: ClusterApiSection = ClusterApiSection.model_validate({})
    sources: SourcesSection = SourcesSection.model_validate({})
    admin: AdminSection = AdminSection.model_validate({})
    rollout: RolloutSection = RolloutSection.model_validate({})
    logging: LoggingSection = LoggingSection.model_validate({})
    routes: Annotated[list[RouteSection], BeforeValidator(_list_of("routes"))] = Field(
        default_factory=list, description="every matching route deploys, in file order")
    report: ReportSection | None = Field(None, description="reporting back to the git hosts "
                                         "(on when a source has an api)")
    notify: Annotated[list[NotifySection], BeforeValidator(_list_of("notify"))] = Field(
        default_factory=list, description="notification sinks")
    reconcile: ReconcileSection = ReconcileSection.model_validate({})
    retention: RetentionSection = RetentionSection.model_validate({})
    # Deploy gates (docs/gates.md): scheduled holds (checked by relay.gates.holds) and the
    # default skip markers of every route.
    holds: Annotated[list[dict[str, Any]], BeforeValidator(_list_of("holds"))] = Field(
        default_factory=list, description="scheduled holds: {name, schedule (5-field cron), "
        "duration_s, timezone, clusters | repos}")
    skip_markers: MarkerList = Field(
        default_factory=lambda: list(DEFAULT_SKIP_MARKERS),
        description="a push whose head commit message contains one is ignored")


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of relay.yaml, for editors and CI validators."""
    schema = RelayConfig.model_json_schema()
    for name, prop in schema["properties"].items():  # `server:` left empty: the defaults
        schema["properties"][name] = {
            "anyOf": [{k: v for k, v in prop.items() if k not in ("default", "description",
                                                                  "title")}, {"type": "null"}],
            **{k: v for k, v in prop.items() if k in ("description", "title")}}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


# -- rendering pydantic's errors as relay's problems --------------------------------------------


def validate(model: type[Section], data: object, path: str = ""
             ) -> tuple[Section | None, list[ConfigProblem]]:
    """`data` as `model` -> (the model or None, every problem, each at its key path)."""
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        errors = sorted(exc.errors(include_url=False),  # unknown keys first, as they are
                        key=lambda error: error["type"] != "extra_forbidden")  # often the cause
        return None, [_problem(model, path, error) for error in errors]


def _problem(model: type[Section], base: str, error: Any) -> ConfigProblem:
    loc = tuple(error["loc"])
    kind, value = error["type"], error.get("input")
    if kind == "invalid_key":  # a key YAML read as a number, a boolean...: a name, not an index
        loc = (*loc[:-1], str(loc[-1]))
        kind = "extra_forbidden"
    path = base
    for part in loc:
        path = join(path, part)
    if kind == "relay":
        return ConfigProblem(path, str(error["ctx"]["message"]))
    if kind == "missing":
        return ConfigProblem(path, "required key is missing")
    if kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        key = str(loc[-1])
        hint = parent.hints.get(key)
        return ConfigProblem(path, hint or f"unknown {parent.noun}"
                                           f"{suggest(key, tuple(parent.model_fields))}")
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return ConfigProblem(path, f"must be a mapping, got {describe(value)}")
    if kind == "list_type":
        return ConfigProblem(path, f"must be a list, got {describe(value)}")
    return ConfigProblem(path, "is not valid here")  # no pydantic wording: it may quote input


def _model_at(model: type[Section], loc: tuple[Any, ...]) -> type[Section]:
    """The model class that validates the mapping at `loc` (list indexes skipped)."""
    current = model
    for part in loc:
        if isinstance(part, str) and part in current.model_fields:
            found = _section_in(current.model_fields[part].annotation)
            if found is not None:
                current = found
    return current


def _section_in(annotation: object) -> type[Section] | None:
    if isinstance(annotation, type) and issubclass(annotation, Section):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _section_in(typing.get_args(annotation)[0])
    if origin in (list, tuple, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _section_in(arg)
            if found is not None:
                return found
    return None
