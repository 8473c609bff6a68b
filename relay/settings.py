"""relay's settings: frozen values, read by the rest of relay; no I/O, no validation here.

The loader (relay.config) builds them from the YAML file and the environment; tests build
them directly (tests/factories.py). Every key is described in docs/configuration.md.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from relay.events import Source
from relay.gates.checks import WaitForChecks
from relay.gates.filters import RouteFilters
from relay.gates.holds import ScheduledHold
from relay.globs import Glob, compile_glob
from relay.secret import Secret

DEFAULT_CONFIG_PATH = Path("config/relay.yaml")


class Action(enum.StrEnum):
    VERSION = "version"
    HOOK = "hook"


@dataclass(frozen=True, slots=True)
class VersionControlSettings:
    """A route's `version_control` block: sent with the new version (action: version)."""

    fields: tuple[tuple[str, str], ...]  # non-secret keys: type, path, subdir, branch, account
    password: Secret | None = None

    def to_api(self) -> dict[str, str]:
        """The block as the cluster API expects it (the password revealed, for the wire only)."""
        body = dict(self.fields)
        if self.password is not None:
            body["password"] = self.password.reveal()
        return body


@dataclass(frozen=True, slots=True)
class Route:
    """One entry of `routes`; its globs are compiled once, here (GlobError if malformed)."""

    index: int  # position in the file, for messages and `explain`
    repo: str  # glob, matched case-insensitively
    branch: str | None  # glob; exactly one of branch / tag is set
    tag: str | None
    cluster: int
    action: Action
    source: Source | None = None
    version_control: VersionControlSettings | None = None
    environment: str | None = None  # the git host's environment (None: `cluster-{id}`)
    # Deploy gates (docs/gates.md): paths / paths_ignore / skip_markers; `on_failure`
    # ("none" or "rollback", relay.gates.rollback.OnFailure); `wait_for_checks` (None: none).
    filters: RouteFilters = field(default_factory=RouteFilters)
    on_failure: str = "none"
    wait_for_checks: WaitForChecks | None = None
    repo_pattern: Glob = field(init=False, repr=False, compare=False)
    ref_pattern: Glob = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ref = self.branch if self.tag is None else self.tag
        if ref is None or (self.branch is not None and self.tag is not None):
            raise ValueError("a route has exactly one of branch / tag")
        object.__setattr__(self, "repo_pattern", compile_glob(self.repo, ignore_case=True))
        object.__setattr__(self, "ref_pattern", compile_glob(ref))

    @property
    def ref_kind(self) -> Literal["branch", "tag"]:
        """Whether this route matches a branch or a tag."""
        return "branch" if self.branch is not None else "tag"

    @property
    def ref_glob(self) -> str:
        """The branch or tag glob, whichever is set."""
        return self.branch if self.branch is not None else str(self.tag)


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """The `server` section: where relay listens and how much one client may take.

    Times in seconds, sizes in bytes. `trusted_proxies`: the networks whose
    X-Forwarded-For header is believed (a single address is a /32 or /128 network).
    """

    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 5_242_880
    shutdown_timeout_s: float = 10.0
    header_timeout_s: float = 10.0  # longest to receive a request's headers
    body_timeout_s: float = 30.0  # longest to receive a request's body
    idle_timeout_s: float = 30.0  # a keep-alive connection idle this long is closed
    max_connections: int = 900  # open connections at most (keep below the file limit)
    max_body_memory_bytes: int = 67_108_864  # bodies being read at once; beyond: 503
    trusted_proxies: tuple[IPNetwork, ...] = ()


@dataclass(frozen=True, slots=True)
class StoreSettings:
    url: str = "sqlite:///relay.db"
    # PostgreSQL only (SQLite ignores them):
    pool_size: int = 10  # connections per replica, besides one that LISTENs for wake-ups
    connect_timeout_s: float = 5.0  # opening a connection, or waiting for a free one
    query_timeout_s: float = 5.0  # one statement; the store answers StoreError (503) after it


@dataclass(frozen=True, slots=True)
class ClusterApiSettings:
    token: Secret
    base_url: str = "embedded"
    request_timeout_s: float = 10.0
    watch_timeout_s: float = 60.0
    retry_total_s: float = 45.0  # no retry of one call starts after this (RetryPolicy.total_s)
    hook_hosts: tuple[str, ...] = ()  # "host" or "host:port", lower case, as written
    max_response_bytes: int = 16_777_216  # one answer from the cluster API or a hook URL

    @property
    def embedded(self) -> bool:
        return self.base_url == "embedded"


@dataclass(frozen=True, slots=True)
class GitApiSettings:
    """A source's `api`: the host's API base URL (or `embedded`) and its token."""

    url: str
    token: Secret

    @property
    def embedded(self) -> bool:
        return self.url == "embedded"


@dataclass(frozen=True, slots=True)
class SourceSettings:
    source: Source
    secrets: tuple[Secret, ...]  # any one verifies (rotation)
    api: GitApiSettings | None = None  # None: nothing is reported to this host


@dataclass(frozen=True, slots=True)
class ReportSettings:
    """The `report` section (docs/reporting.md); in force for the sources with an `api`."""

    commit_status: bool = True
    deployments: bool = True
    context: str = "relay/{cluster}"  # {cluster} and {environment} are filled in
    public_url: str | None = None  # base of target_url links; None: no link
    max_age_s: float = 86_400.0  # a message not delivered by then is dropped (and counted)


class SinkType(enum.StrEnum):
    SLACK = "slack"
    TEAMS = "teams"
    WEBHOOK = "webhook"


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """One `notify` entry: a sink of notifications (its URL and secret are secrets)."""

    name: str
    type: SinkType
    url: Secret
    secret: Secret | None = None  # webhook only: signs with Standard Webhooks headers
    on: tuple[str, ...] = ("failed", "timed_out", "error", "rollback")
    clusters: tuple[int, ...] = ()
    repos: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AdminSettings:
    token: Secret | None = None  # None: the admin API is off


@dataclass(frozen=True, slots=True)
class RolloutSettings:
    timeout_s: float = 900.0  # from trigger to verdict; then `timed_out`
    lease_s: float = 30.0  # a crashed worker's deployment is taken over after this
    poll_interval_s: float = 1.0  # at most one watch per interval (a watch that returns at once)


@dataclass(frozen=True, slots=True)
class LoggingSettings:
    level: str = "info"
    format: str = "auto"  # auto (console on a TTY, JSON otherwise) | json | console


@dataclass(frozen=True, slots=True)
class ReconcileSettings:
    """`reconcile`: seconds between two reads of the routed branch heads; 0 = catch-up off."""

    interval_s: int = 300


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    """`retention`: days deliveries and finished deployments are kept."""

    deliveries_days: int = 30
    deployments_days: int = 365


@dataclass(frozen=True, slots=True)
class Settings:
    cluster_api: ClusterApiSettings
    server: ServerSettings = field(default_factory=ServerSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    sources: Mapping[Source, SourceSettings] = field(default_factory=dict)
    admin: AdminSettings = field(default_factory=AdminSettings)
    rollout: RolloutSettings = field(default_factory=RolloutSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    routes: tuple[Route, ...] = ()
    report: ReportSettings = field(default_factory=ReportSettings)
    notify: tuple[NotifySettings, ...] = ()
    reconcile: ReconcileSettings = field(default_factory=ReconcileSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    holds: tuple[ScheduledHold, ...] = ()  # `holds:` (docs/gates.md)
    # Whether a route has `paths` or `paths_ignore`: only then does the webhook handler read
    # the commits' file lists of a push (relay.gates.changes).
    reads_file_lists: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "reads_file_lists",
                           any(route.filters.filters_paths for route in self.routes))
