"""The one factory that wires relay: settings in, an aiohttp Application out.

Reading it top to bottom gives the table of contents: every resource has one AppKey and one
cleanup_ctx entry, set up in order and torn down in reverse on shutdown.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry

from relay import admin_api, outbox_wiring, ui
from relay import web as handlers
from relay.clock import Clock, SystemClock
from relay.cluster import ClusterClient, RetryPolicy
from relay.config import ConfigError, Settings
from relay.live import LiveSettings, Reload
from relay.metrics import Metrics
from relay.reconcile import Reconciler, git_hosts
from relay.retention import run_retention
from relay.server import BODY_BUDGET, BodyBudget
from relay.store import Store, open_store
from relay.typedefs import API, CLOCK, LIVE, METRICS, RECONCILER, SETTINGS, STORE, WORKER
from relay.worker import ClusterApi, Worker

log = structlog.get_logger("relay")

EMBEDDED_PREFIX = "/simulator"
CleanupCtx = Callable[[web.Application], AsyncIterator[None]]


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    api: ClusterApi | None = None,
    clock: Clock | None = None,
    registry: CollectorRegistry | None = None,
    run_worker: bool = True,
    worker_settings: Any = None,
    retry: Any = None,
    outbox: Any = None,
    run_background: bool | None = None,
) -> web.Application:
    """Build relay's application.

    `store`, `api`, `clock` and `registry` replace the real ones; `retry` is the cluster API
    client's RetryPolicy (zero-wait in tests); `worker_settings` tunes the worker's timings;
    `outbox` (relay.outbox_wiring.OutboxOptions) the reports' sender (API URLs, timings).
    `run_background`: run catch-up and retention (default: with the worker, on the real
    clock; a test clock that jumps on sleep would make their loops spin).
    """
    app = web.Application(middlewares=[handlers.error_middleware],
                          handler_args=handlers.HANDLER_ARGS)
    app[SETTINGS] = settings
    app[LIVE] = LiveSettings(settings)
    app[CLOCK] = clock if clock is not None else SystemClock()
    app[METRICS] = Metrics(registry)
    app[BODY_BUDGET] = BodyBudget(settings.server.max_body_memory_bytes)
    app[METRICS].prime(sources=[s.value for s in settings.sources],
                       deployments={(r.cluster, r.action.value) for r in settings.routes})
    app.cleanup_ctx.append(_store_ctx(store))
    app.cleanup_ctx.append(_api_ctx(api, retry))
    app.cleanup_ctx.append(outbox_wiring.outbox_ctx(outbox))
    app.cleanup_ctx.append(_worker_ctx(run_worker, worker_settings))
    background = run_background if run_background is not None else (run_worker and clock is None)
    app.cleanup_ctx.append(_retention_ctx(background))
    app.cleanup_ctx.append(_reconcile_ctx(background))
    handlers.add_routes(app)
    admin_api.add_routes(app)
    ui.add_routes(app)  # the status page, /ui/ (and / redirecting to it)
    if settings.cluster_api.embedded:
        _mount_simulator(app, settings)
    outbox_wiring.mount_fake_git(app, settings)
    return app


def reload_settings(app: web.Application, load: Callable[[], Settings]) -> Reload | None:
    """Re-read the configuration with `load` and put its reloadable sections in force.

    `load` raises ConfigError for an invalid file: then every problem is logged at `error`
    and the settings in force stay as they were (None is returned). Otherwise the new routes,
    sources (with their secrets) and admin token apply to the next request and trigger;
    sections that need a restart are named in a warning. Never raises.
    """
    try:
        new = load()
    except ConfigError as exc:
        for problem in exc.problems:
            log.error("configuration reload refused", problem=str(problem))
        log.error("configuration reload refused; the configuration in force is unchanged",
                  problems=len(exc.problems))
        return None
    done = app[LIVE].reload(new)
    outbox_wiring.follow_reload(app)
    app[METRICS].prime(sources=[s.value for s in new.sources],
                       deployments={(r.cluster, r.action.value) for r in new.routes})
    log.info("configuration reloaded", applied=list(done.applied),
             routes=len(new.routes), sources=sorted(s.value for s in new.sources))
    if done.needs_restart:
        log.warning("configuration reloaded; these sections take effect only after a restart",
                    sections=list(done.needs_restart))
    handlers.wake_worker(app)  # a new route may make queued work runnable
    return done


def api_base_url(settings: Settings) -> str:
    """The cluster API's URL; for `embedded`, the simulator mounted on relay's own port."""
    if not settings.cluster_api.embedded:
        return settings.cluster_api.base_url
    host = settings.server.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.server.port}{EMBEDDED_PREFIX}"


def _store_ctx(given: Store | None) -> CleanupCtx:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        conf = app[SETTINGS].store
        store = given if given is not None else await open_store(
            conf.url, pool_size=conf.pool_size, connect_timeout_s=conf.connect_timeout_s,
            query_timeout_s=conf.query_timeout_s)
        app[STORE] = store
        if hasattr(store, "observe_with"):  # the SQLite store times its thread's jobs
            store.observe_with(app[METRICS])
        versions = await store.schema_versions()
        app[METRICS].set_schema(max((v for v, _ in versions), default=0))
        try:
            yield
        finally:
            if given is None:
                await store.close()

    return ctx


def _api_ctx(given: ClusterApi | None, retry: Any) -> CleanupCtx:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        if given is not None:
            app[API] = given
            yield
            return
        settings = app[SETTINGS]
        # One long-poll connection per rollout followed: no pool cap below the worker's own.
        # trust_env: HTTPS_PROXY / HTTP_PROXY / NO_PROXY (and ~/.netrc) apply, as for curl.
        session = aiohttp.ClientSession(
            trust_env=True, connector=aiohttp.TCPConnector(limit=0, limit_per_host=0))
        try:
            app[API] = ClusterClient(
                session, api_base_url(settings), settings.cluster_api.token,
                request_timeout_s=settings.cluster_api.request_timeout_s,
                watch_timeout_s=settings.cluster_api.watch_timeout_s,
                retry=retry if retry is not None else RetryPolicy(
                    total_s=settings.cluster_api.retry_total_s),
                metrics=app[METRICS],
                max_response_bytes=settings.cluster_api.max_response_bytes,
            )
            yield
        finally:
            await session.close()

    return ctx


def _worker_ctx(enabled: bool, worker_settings: Any) -> CleanupCtx:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        if not enabled:
            app[WORKER] = None
            yield
            return
        worker = Worker(app[STORE], app[API], app[SETTINGS], metrics=app[METRICS],
                        clock=app[CLOCK], worker_settings=worker_settings, live=app[LIVE])
        app[WORKER] = worker
        # The checks gate and the compare API read the git hosts of the sources with an `api`.
        session = aiohttp.ClientSession(trust_env=True)
        readers = outbox_wiring.gate_readers(app[SETTINGS], session)
        if readers is not None:
            worker.gatekeeper.checks = worker.gatekeeper.compare = readers
        # Work stored by other replicas wakes this worker too (PostgreSQL LISTEN/NOTIFY).
        unsubscribe = await app[STORE].subscribe(worker.wake)
        task = asyncio.create_task(worker.run(), name="relay-worker")
        try:
            yield
        finally:
            unsubscribe()
            await worker.stop()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await session.close()

    return ctx


def _retention_ctx(enabled: bool) -> CleanupCtx:
    """Retention in the background (relay.retention): cancelled and awaited on shutdown."""
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        if not enabled:
            yield
            return
        task = asyncio.create_task(run_retention(
            app[STORE], app[SETTINGS].retention, app[CLOCK], app[METRICS]),
            name="relay-retention")
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    return ctx


def _reconcile_ctx(enabled: bool) -> CleanupCtx:
    """Catch-up in the background (relay.reconcile), when on and some source has `api`:
    cancelled and awaited on shutdown, then its HTTP session closed."""
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        if (not enabled or settings.reconcile.interval_s == 0
                or not any(s.api is not None for s in settings.sources.values())):
            yield
            return
        session = aiohttp.ClientSession(trust_env=True)
        reconciler = Reconciler(
            app[STORE], settings, app[CLOCK], app[METRICS],
            git_hosts(settings, session, outbox_wiring.own_origin(settings)),
            wake=lambda clusters: handlers.wake_worker(app, clusters), live=app[LIVE])
        app[RECONCILER] = reconciler
        task = asyncio.create_task(reconciler.run(), name="relay-reconcile")
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await session.close()

    return ctx


def _mount_simulator(app: web.Application, settings: Settings) -> None:
    """base_url: embedded serves the cluster API simulator under /simulator on relay's port."""
    from relay.simulator import create_simulator_app

    sim = create_simulator_app(token=settings.cluster_api.token.reveal(), step_s=0.5)
    app.add_subapp(EMBEDDED_PREFIX, sim)
