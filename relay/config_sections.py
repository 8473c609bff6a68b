"""One reader per section of the configuration file (CONTRACT section 3) -> Settings.

Every reader records its problems and carries on, so that check-config lists them all.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from types import MappingProxyType
from urllib.parse import parse_qsl, urlsplit

from relay.config import (
    AdminSettings,
    ClusterApiSettings,
    LoggingSettings,
    RolloutSettings,
    ServerSettings,
    Settings,
    SourceSettings,
    StoreSettings,
)
from relay.config_routes import read_routes
from relay.config_schema import Env, Node, Problems, describe
from relay.events import Source
from relay.secret import Secret

SECTIONS = ("server", "store", "cluster_api", "sources", "admin", "rollout", "logging", "routes")
SOURCE_KEY = {Source.GITHUB: "secret_env", Source.GITLAB: "token_env", Source.GITEA: "secret_env"}
SOURCE_HINT = {
    "secret_env": "gitlab sends a token, not a signature: use token_env",
    "token_env": "this source signs deliveries with a shared secret: use secret_env",
}
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)\Z")


def build_settings(data: object, environ: Mapping[str, str], problems: Problems) -> Settings | None:
    """Read the whole document, section by section; None when any problem was found."""
    if data is None:
        problems.add("", "the configuration is empty (see docs/configuration.md)")
        return None
    root = Node.open(problems, "", data, allowed=SECTIONS, noun="section")
    env = Env(problems, environ)
    server, store = read_server(root), read_store(root)
    cluster_api = read_cluster_api(root, env)
    sources = read_sources(root, env)
    admin, rollout, logging = read_admin(root, env), read_rollout(root), read_logging(root)
    routes = read_routes(root.data.get("routes"), problems, env, configured=_declared(root))
    if problems.items or cluster_api is None:
        return None
    return Settings(cluster_api=cluster_api, server=server, store=store, sources=sources,
                    admin=admin, rollout=rollout, logging=logging, routes=routes)


def read_server(root: Node) -> ServerSettings:
    node = root.section("server", allowed=("host", "port", "max_body_bytes",
                                           "shutdown_timeout_s", *_SERVER_LIMITS))
    default = ServerSettings()
    return ServerSettings(
        host=node.text("host", default.host),
        port=node.integer("port", default.port, maximum=65535),
        max_body_bytes=node.integer("max_body_bytes", default.max_body_bytes),
        shutdown_timeout_s=node.number("shutdown_timeout_s", default.shutdown_timeout_s),
        header_timeout_s=node.number("header_timeout_s", default.header_timeout_s),
        body_timeout_s=node.number("body_timeout_s", default.body_timeout_s),
        idle_timeout_s=node.number("idle_timeout_s", default.idle_timeout_s),
        max_connections=node.integer("max_connections", default.max_connections),
        max_body_memory_bytes=node.integer("max_body_memory_bytes",
                                           default.max_body_memory_bytes),
    )


_SERVER_LIMITS = ("header_timeout_s", "body_timeout_s", "idle_timeout_s", "max_connections",
                  "max_body_memory_bytes")


def read_store(root: Node) -> StoreSettings:
    node = root.section("store", allowed=("url", "pool_size", "connect_timeout_s",
                                          "query_timeout_s"))
    default = StoreSettings()
    return StoreSettings(
        url=_store_url(node, default.url),
        pool_size=node.integer("pool_size", default.pool_size, maximum=1000),
        connect_timeout_s=node.number("connect_timeout_s", default.connect_timeout_s),
        query_timeout_s=node.number("query_timeout_s", default.query_timeout_s),
    )


def _store_url(node: Node, default: str) -> str:
    url = node.text("url", default)
    scheme, _, rest = url.partition("://")
    if scheme == "sqlite" and rest.startswith("/") and len(rest) > 1:
        return url
    if scheme in ("postgresql", "postgres") and rest:
        parts = urlsplit(url)
        in_query = any(k.lower() in ("password", "sslpassword")
                       for k, _ in parse_qsl(parts.query, keep_blank_values=True))
        if ":" in parts.netloc.rpartition("@")[0] or in_query:
            node.add("url", "has a password in it: secrets live in the environment "
                            "(set PGPASSWORD, or use a .pgpass file)")
        return url
    node.add("url", "must be sqlite:///PATH or postgresql://USER@HOST:PORT/DB")
    return default


def read_cluster_api(root: Node, env: Env) -> ClusterApiSettings | None:
    """The cluster API section; None when its token is missing."""
    node = root.section("cluster_api", allowed=("base_url", "token_env", "request_timeout_s",
                                                "watch_timeout_s", "hook_hosts",
                                                "max_response_bytes"))
    default_name = "RELAY_API_TOKEN"
    name = env.name(node.at("token_env"), node.data.get("token_env", default_name))
    token = env.secret(node.at("token_env"), name) if name else None
    defaults = ClusterApiSettings(token=Secret(""))
    settings = ClusterApiSettings(
        token=token or Secret(""),
        base_url=_base_url(node, defaults.base_url),
        request_timeout_s=node.number("request_timeout_s", defaults.request_timeout_s),
        watch_timeout_s=node.number("watch_timeout_s", defaults.watch_timeout_s),
        hook_hosts=_hook_hosts(node),
        max_response_bytes=node.integer("max_response_bytes", defaults.max_response_bytes),
    )
    return settings if token else None


def _base_url(node: Node, default: str) -> str:
    url = node.text("base_url", default)
    if url == "embedded":
        return url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        node.add("base_url", "must be 'embedded' or an http(s) URL such as https://open.c.163.com")
    elif parts.username is not None or parts.password is not None:
        node.add("base_url", "must not carry credentials: the token comes from token_env")
    elif parts.query or parts.fragment:
        node.add("base_url", "must not have a query or a fragment")
    return url.rstrip("/")


def _hook_hosts(node: Node) -> tuple[str, ...]:
    value = node.data.get("hook_hosts")
    if value is None:
        return ()
    if not isinstance(value, list):
        node.add("hook_hosts", f"must be a list of host names, got {describe(value)}")
        return ()
    hosts = []
    for i, item in enumerate(value):
        if isinstance(item, str) and _is_host(item.strip().lower()):
            hosts.append(item.strip().lower())
        else:
            node.add(f"hook_hosts[{i}]", "must be a host name such as hooks.example.com "
                                         "(no scheme, port or path)")
    return tuple(hosts)


def _is_host(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        labels = text.removesuffix(".").split(".")
        return len(text) <= 253 and all(_HOST_LABEL.match(label) for label in labels)


def read_sources(root: Node, env: Env) -> Mapping[Source, SourceSettings]:
    node = root.section("sources", allowed=tuple(Source), noun="source")
    sources: dict[Source, SourceSettings] = {}
    for key, value in node.items():
        if key not in tuple(Source):
            continue
        source = Source(key)
        secrets = _source_secrets(node, source, value, env)
        if secrets:
            sources[source] = SourceSettings(source=source, secrets=secrets)
    return MappingProxyType(sources)


def _source_secrets(parent: Node, source: Source, value: object,
                    env: Env) -> tuple[Secret, ...]:
    """Every secret the source names; empty unless all of them are set."""
    key = SOURCE_KEY[source]
    hints = {k: v for k, v in SOURCE_HINT.items() if k != key}
    node = Node.open(parent.problems, parent.at(source), {} if value is None else value,
                     allowed=(key,), required=(key,), hints=hints)
    if not node.has(key):
        return ()
    found = [env.secret(path, name) for path, name in env.names(node.at(key), node.data[key])]
    secrets = tuple(secret for secret in found if secret is not None)
    return secrets if len(secrets) == len(found) else ()


def _declared(root: Node) -> set[Source]:
    """The sources the file configures, usable or not (a broken one is reported already)."""
    section = root.data.get("sources")
    names = section if isinstance(section, dict) else {}
    return {source for source in Source if source.value in names}


def read_admin(root: Node, env: Env) -> AdminSettings:
    """The admin API: on when its token variable is set, off when it is unset."""
    node = root.section("admin", allowed=("token_env",))
    name = env.name(node.at("token_env"), node.data.get("token_env", "RELAY_ADMIN_TOKEN"))
    return AdminSettings(token=env.secret(node.at("token_env"), name, optional=True)
                         if name else None)


def read_rollout(root: Node) -> RolloutSettings:
    node = root.section("rollout", allowed=("timeout_s", "lease_s", "poll_interval_s"))
    default = RolloutSettings()
    return RolloutSettings(
        timeout_s=node.number("timeout_s", default.timeout_s),
        lease_s=node.number("lease_s", default.lease_s),
        poll_interval_s=node.number("poll_interval_s", default.poll_interval_s),
    )


def read_logging(root: Node) -> LoggingSettings:
    node = root.section("logging", allowed=("level", "format"))
    default = LoggingSettings()
    return LoggingSettings(
        level=node.choice("level", default.level, ("debug", "info", "warning", "error")),
        format=node.choice("format", default.format, ("auto", "json", "console")),
    )


