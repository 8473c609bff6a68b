"""How each action triggers a rollout: a table keyed by Action, plus the web hook URL checks.

`action: version` PUTs only `{"version_control": {...the route's block, "version": SHA}}` (never
a value read back: passwords come back masked); `action: hook` POSTs the delivery as received to
the cluster's `web_hook_url`, only an http(s) URL on an allowed host, with no credentials of
relay's. A new action is one function and one entry in TRIGGERS.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from relay.cluster.client import RetryTally
from relay.cluster.models import Cluster
from relay.config import Action, Route, Settings
from relay.deployment import Deployment


class TriggerApi(Protocol):
    """The cluster API calls a trigger makes (relay.cluster.ClusterClient)."""

    async def update(self, cluster_id: int, patch: dict[str, Any], *,
                     retries: RetryTally | None = None) -> None: ...

    async def post_hook(self, url: str, body: bytes, headers: dict[str, str], *,
                        retries: RetryTally | None = None) -> int: ...


class TriggerRefused(Exception):
    """The trigger cannot or must not be sent: the deployment ends `error`."""


@dataclass(frozen=True, slots=True)
class TriggerInput:
    """What a trigger needs: the deployment, the cluster as read before it, its route."""

    api: TriggerApi
    deployment: Deployment
    cluster: Cluster
    route: Route | None  # the route that planned it (None: by hand, or a route since removed)
    hook_hosts: frozenset[str]  # allowed web hook hosts, "host" or "host:port"
    payload: Callable[[], Awaitable[tuple[bytes, dict[str, str]]]]  # the hook's body, headers
    retries: RetryTally


@dataclass(frozen=True, slots=True)
class Trigger:
    """How one action triggers a rollout, and whether the new version reads back."""

    send: Callable[[TriggerInput], Awaitable[None]]
    reads_back_version: bool


async def _send_version(t: TriggerInput) -> None:
    """PUT only the version plus the route's configured block: never a value read back."""
    block = (t.route.version_control.to_api()
             if t.route is not None and t.route.version_control is not None else {})
    patch = {"version_control": {**block, "version": t.deployment.version}}
    await t.api.update(t.deployment.cluster, patch, retries=t.retries)


async def _send_hook(t: TriggerInput) -> None:
    """POST the delivery as received to the cluster's web_hook_url, on an allowed host only."""
    url = t.cluster.web_hook_url
    if not url:
        raise TriggerRefused(f"cluster {t.deployment.cluster} has no web_hook_url")
    refused = hook_refusal(url, t.hook_hosts)
    if refused is not None:
        raise TriggerRefused(refused)
    body, headers = await t.payload()
    await t.api.post_hook(url, body, headers, retries=t.retries)


TRIGGERS: Mapping[Action, Trigger] = {
    Action.VERSION: Trigger(_send_version, reads_back_version=True),
    Action.HOOK: Trigger(_send_hook, reads_back_version=False),
}


def hook_refusal(url: str, allowed: frozenset[str]) -> str | None:
    """Why a web hook URL must not be posted to (None: it may).

    Only http(s) URLs; the host must be in `allowed`, whose entries are "host" (any port) or
    "host:port" (that port only; "[v6]:port" for IPv6). Hosts compare case-insensitively.
    """
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        return "web_hook_url is not a valid URL"
    if parts.scheme.lower() not in ("http", "https"):
        return f"web_hook_url must be an http(s) URL, not {parts.scheme or 'schemeless'!r}"
    host = (parts.hostname or "").lower()
    shown = f"[{host}]" if ":" in host else host
    if host in allowed or f"{shown}:{port}" in allowed:
        return None
    return (f"web_hook_url host {f'{shown}:{port}'!r} is not the API's host nor in "
            "cluster_api.hook_hosts")


def allowed_hook_hosts(settings: Settings) -> frozenset[str]:
    """The API's own host (any port) and `cluster_api.hook_hosts`, lower-cased."""
    api = settings.cluster_api
    base = api.base_url if not api.embedded else "http://127.0.0.1"
    hosts = {h.lower() for h in api.hook_hosts}
    hosts.add((urlsplit(base).hostname or "").lower())
    if api.embedded:
        hosts.update({"localhost", "127.0.0.1", settings.server.host.lower()})
    return frozenset(hosts)


def route_of(dep: Deployment, routes: Sequence[Route]) -> Route | None:
    """The route whose `version_control` block goes with `dep`'s trigger, or None.

    The one that planned it (`route_index`) while it still names the same cluster and
    action; else (by hand, or the routes were reloaded since) the first route of that
    cluster and action. Only the block's configured fields and password come from it.
    """
    same = [r for r in routes if r.cluster == dep.cluster and r.action is dep.action]
    planned = [r for r in same if r.index == dep.route_index]
    found = planned or same
    return found[0] if found else None
