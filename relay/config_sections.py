"""A loaded YAML document (and, on request, the environment) -> every problem, every warning,
and the Settings when there is no problem.

Pure: the environment is a mapping handed in, and no file is touched (relay.config, the
loader, adds the checks that look at the machine). Every step runs on whatever it can read,
so that one pass finds every problem: the schema checks each key, relay.config_env every
variable, relay.config_routes the routes; the rules across sections are here.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeVar

from relay import config_reports
from relay.config_env import EnvKey, env_keys, read_secrets
from relay.config_problems import ConfigProblem
from relay.config_routes import build_route, duplicates, route_problems, shadowed
from relay.config_schema import (
    SECTIONS,
    SOURCE_KEY,
    ClusterApiSection,
    RelayConfig,
    RolloutSection,
    RouteSection,
    Section,
    ServerSection,
    validate,
)
from relay.events import Source
from relay.gates.filters import DEFAULT_SKIP_MARKERS
from relay.gates.holds import HoldError, ScheduledHold, parse_holds
from relay.reconcile_plan import uncovered
from relay.secret import Secret
from relay.settings import (
    AdminSettings,
    ClusterApiSettings,
    LoggingSettings,
    ReconcileSettings,
    RetentionSettings,
    RolloutSettings,
    Route,
    ServerSettings,
    Settings,
    SourceSettings,
    StoreSettings,
)

LEASE_FLOOR_S = 30.0  # rollout.lease_s when the file leaves it out, unless the rule wants more
_S = TypeVar("_S", bound=Section)
EMPTY = "the configuration is empty (see docs/configuration.md)"
CHECKS_NEED_API = ("needs sources.{source}.api to read the commit's checks; without it this "
                   "route's deployments do not wait for checks")


@dataclass(frozen=True, slots=True)
class ConfigReport:
    """The outcome of checking one configuration.

    `settings`: None when there is a problem, or when the environment was not read (--no-env).
    `routes`: every valid route (passwords not read without the environment). `problems` make
    relay refuse to start; `warnings` do not.
    """

    settings: Settings | None
    routes: tuple[Route, ...]
    problems: tuple[ConfigProblem, ...]
    warnings: tuple[ConfigProblem, ...]


def minimum_lease_s(request_timeout_s: float, retry_total_s: float) -> float:
    """The shortest `rollout.lease_s` allowed, in seconds.

    The longest one trigger can take is the client's retry budget (`retry_total_s`: no attempt
    starts after it) plus the last attempt's `request_timeout_s`; one more request timeout is
    the margin.
    """
    return retry_total_s + 2 * request_timeout_s


def check_document(data: object, environ: Mapping[str, str] | None) -> ConfigReport:
    """Check a loaded YAML document; `environ` None checks everything but the environment."""
    if data is None:
        return ConfigReport(None, (), (ConfigProblem("", EMPTY),), ())
    config, problems = validate(RelayConfig, data)
    if not isinstance(data, dict):
        return ConfigReport(None, (), tuple(problems), ())
    keys, name_problems = env_keys(data)
    problems += name_problems
    secrets: dict[str, Secret | None] | None = None
    if environ is not None:
        secrets, env_problems = read_secrets(keys, environ)
        problems += env_problems
    routes = _routes(data, secrets, problems)
    problems += duplicates(routes)
    problems += _across_sections(data)
    problems += config_reports.problems(data)
    holds, hold_problems = _holds(data)
    problems += hold_problems
    problems.sort(key=document_order)
    warnings = _warnings(data, routes) + config_reports.warnings(data)
    settings = None
    if not problems and secrets is not None and isinstance(config, RelayConfig):
        settings = _settings(config, keys, secrets, routes)
        settings = dataclasses.replace(settings, holds=holds)
    return ConfigReport(settings, tuple(routes), tuple(problems), tuple(warnings))


def _holds(data: dict[object, object]) -> tuple[tuple[ScheduledHold, ...], list[ConfigProblem]]:
    """`holds:` through relay.gates.holds.parse_holds; its problems keyed by their path."""
    raw = data.get("holds")
    if not isinstance(raw, list):
        return (), []  # absent, or the schema said so already
    try:
        return parse_holds(raw), []
    except HoldError as exc:
        found = []
        for problem in exc.problems:
            path, _, message = problem.partition(": ")
            found.append(ConfigProblem(path, message) if message
                         else ConfigProblem("holds", problem))
        return (), found


def _skip_markers(data: dict[object, object]) -> tuple[str, ...]:
    raw = data.get("skip_markers")
    if isinstance(raw, list) and all(isinstance(m, str) for m in raw):
        return tuple(raw)
    return DEFAULT_SKIP_MARKERS


def _routes(data: dict[object, object], secrets: Mapping[str, Secret | None] | None,
            problems: list[ConfigProblem]) -> list[Route]:
    """Every valid route; the rules' problems added to `problems`."""
    raw_routes = data.get("routes")
    sources = data.get("sources")
    configured = {s for s in Source if isinstance(sources, dict) and s.value in sources}
    routes = []
    for index, raw in enumerate(raw_routes if isinstance(raw_routes, list) else []):
        section, _ = validate(RouteSection, raw)  # its problems came with the whole document
        found = route_problems(raw, index, configured)
        problems += found
        if isinstance(section, RouteSection) and not found:
            routes.append(build_route(index, section, secrets,
                                      skip_markers=_skip_markers(data)))
    return routes


def _part(model: type[_S], data: dict[object, object], name: str) -> _S | None:
    section, _ = validate(model, data.get(name))
    return section if isinstance(section, model) else None


def _across_sections(data: dict[object, object]) -> list[ConfigProblem]:
    found = []
    api = _part(ClusterApiSection, data, "cluster_api")
    rollout = _part(RolloutSection, data, "rollout")
    if api is not None and rollout is not None and rollout.lease_s is not None:
        minimum = minimum_lease_s(api.request_timeout_s, api.retry_total_s)
        if rollout.lease_s < minimum:
            found.append(ConfigProblem("rollout.lease_s", (
                f"must be at least {minimum:g} (cluster_api.retry_total_s "
                f"{api.retry_total_s:g} + 2 x cluster_api.request_timeout_s "
                f"{api.request_timeout_s:g}), got {rollout.lease_s:g}: a trigger may be retried "
                "for retry_total_s, and a lease shorter than that lets another worker take over "
                "a deployment that is still being triggered")))
    server = _part(ServerSection, data, "server")
    if server is not None and server.max_body_memory_bytes < server.max_body_bytes:
        found.append(ConfigProblem("server.max_body_memory_bytes", (
            f"must be at least server.max_body_bytes ({server.max_body_bytes}), got "
            f"{server.max_body_memory_bytes}: a delivery relay accepts must fit in the budget")))
    return found


def _warnings(data: dict[object, object], routes: list[Route]) -> list[ConfigProblem]:
    found = []
    api = _part(ClusterApiSection, data, "cluster_api")
    if api is not None and api.base_url == "embedded":
        found.append(ConfigProblem("cluster_api.base_url", (
            "`embedded` runs an in-process cluster API simulator: relay deploys nothing real "
            "(a demo; for real use set your platform's URL, e.g. https://open.c.163.com)")))
    if not data.get("sources"):
        found.append(ConfigProblem("sources", "no source is configured: every /hooks endpoint "
                                              "answers 404, so no push deploys anything"))
    if not data.get("routes"):
        found.append(ConfigProblem("routes", "no route: deliveries are verified and stored, "
                                             "but none deploys anything"))
    with_api = _sources_with_api(data)
    found += [ConfigProblem(f"routes[{route.index}].wait_for_checks", CHECKS_NEED_API.format(
                  source=route.source.value if route.source else "<source>"))
              for route in routes if route.wait_for_checks is not None
              and (route.source not in with_api if route.source else not with_api)]
    return found + shadowed(routes) + _catch_up_warnings(data, routes)


def _sources_with_api(data: dict[object, object]) -> set[Source]:
    sources = data.get("sources")
    return {s for s in Source if isinstance(sources, dict)
            and isinstance(sources.get(s.value), dict) and sources[s.value].get("api")}


def _catch_up_warnings(data: dict[object, object], routes: list[Route]) -> list[ConfigProblem]:
    """Which routes catch-up cannot cover: glob branches, tags, sources without `api`."""
    reconcile = data.get("reconcile")
    interval = reconcile.get("interval_s", 300) if isinstance(reconcile, dict) else 300
    if interval == 0 or not routes:
        return []
    with_api = _sources_with_api(data)
    return [ConfigProblem(f"routes[{route.index}]", reason)
            for route, reason in uncovered(routes, with_api)]


_PATH = re.compile(r"(?P<head>[^.\[]*)(?:\[(?P<index>\d+)\])?(?:\.(?P<key>[^.\[]+))?")


def document_order(problem: ConfigProblem) -> tuple[int, int, int]:
    """Sections in the file format's order (unknown sections first), routes by index, keys in
    their model's order (unknown keys first; a route's own problems where its ref is)."""
    if not problem.path:
        return (-2, 0, 0)
    match = _PATH.match(problem.path)
    if match is None:  # pragma: no cover - every path matches
        return (-1, 0, 0)
    head, index, key = match["head"], match["index"], match["key"]
    if head not in SECTIONS:
        return (-1, 0, 0)
    model = RouteSection if head == "routes" else RelayConfig.model_fields[head].annotation
    fields = list(model.model_fields) if isinstance(model, type) and issubclass(
        model, Section) else []
    rank = fields.index(key) if key in fields else -1
    if head == "routes" and key is None:
        rank = fields.index("branch")
    return (SECTIONS.index(head), int(index) if index is not None else -1, rank)


def _settings(config: RelayConfig, keys: list[EnvKey], secrets: Mapping[str, Secret | None],
              routes: list[Route]) -> Settings:
    server, store, api, rollout = config.server, config.store, config.cluster_api, config.rollout
    token = secrets.get("cluster_api.token_env") or Secret("")
    sources: dict[Source, SourceSettings] = {}
    for source in Source:
        if getattr(config.sources, source.value) is None:
            continue
        prefix = f"sources.{source}.{SOURCE_KEY[source]}"
        found = tuple(secret for key in keys if key.path == prefix
                      or key.path.startswith(prefix + "[")
                      if (secret := secrets.get(key.path)) is not None)
        sources[source] = SourceSettings(source=source, secrets=found,
                                         api=config_reports.api_settings(config, source, secrets))
    lease_s = rollout.lease_s
    if lease_s is None:
        lease_s = max(LEASE_FLOOR_S, minimum_lease_s(api.request_timeout_s, api.retry_total_s))
    return Settings(
        server=ServerSettings(
            host=server.host, port=server.port, max_body_bytes=server.max_body_bytes,
            shutdown_timeout_s=server.shutdown_timeout_s,
            header_timeout_s=server.header_timeout_s, body_timeout_s=server.body_timeout_s,
            idle_timeout_s=server.idle_timeout_s, max_connections=server.max_connections,
            max_body_memory_bytes=server.max_body_memory_bytes,
            trusted_proxies=tuple(ipaddress.ip_network(p) for p in server.trusted_proxies)),
        store=StoreSettings(url=store.url, pool_size=store.pool_size,
                            connect_timeout_s=store.connect_timeout_s,
                            query_timeout_s=store.query_timeout_s),
        cluster_api=ClusterApiSettings(
            token=token, base_url=api.base_url, request_timeout_s=api.request_timeout_s,
            watch_timeout_s=api.watch_timeout_s, retry_total_s=api.retry_total_s,
            hook_hosts=tuple(api.hook_hosts),
            max_response_bytes=api.max_response_bytes),
        sources=MappingProxyType(sources),
        admin=AdminSettings(token=secrets.get("admin.token_env")),
        rollout=RolloutSettings(timeout_s=rollout.timeout_s, lease_s=lease_s,
                                poll_interval_s=rollout.poll_interval_s),
        logging=LoggingSettings(level=config.logging.level, format=config.logging.format),
        routes=tuple(routes),
        report=config_reports.report_settings(config),
        notify=config_reports.notify_settings(config, secrets),
        reconcile=ReconcileSettings(interval_s=config.reconcile.interval_s),
        retention=RetentionSettings(deliveries_days=config.retention.deliveries_days,
                                    deployments_days=config.retention.deployments_days),
    )
