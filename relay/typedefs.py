"""The application's typed keys: one `web.AppKey` per resource that `create_app` wires.

A leaf module, so that the handlers (`relay.web`, `relay.admin_api`) and the factory
(`relay.app`) can all name the keys without importing each other.
"""

from __future__ import annotations

from aiohttp import web

from relay.clock import Clock
from relay.config import Settings
from relay.live import LiveSettings
from relay.metrics import Metrics
from relay.reconcile import Reconciler
from relay.store import Store
from relay.worker import ClusterApi, Worker

SETTINGS = web.AppKey("settings", Settings)  # as relay started: the restart-only sections
LIVE = web.AppKey("live", LiveSettings)  # in force now: routes, sources, admin (SIGHUP)
STORE = web.AppKey("store", Store)
METRICS = web.AppKey("metrics", Metrics)
CLOCK = web.AppKey("clock", Clock)
API = web.AppKey[ClusterApi]("api")  # relay.cluster.ClusterClient, or a fake in tests
WORKER = web.AppKey[Worker | None]("worker")  # None when run_worker=False
RECONCILER = web.AppKey("reconciler", Reconciler)  # set only while catch-up runs
