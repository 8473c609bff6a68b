"""Every relay_* metric, built against a registry passed in (one registry per app)."""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

from relay import __version__, revision

# Fixed label sets (docs/metrics.md): label values never come from a payload.
WEBHOOK_EVENTS = ("push", "tag_push", "ping", "other")
WEBHOOK_OUTCOMES = (
    "accepted", "ignored", "duplicate", "unauthorized", "malformed", "too_large",
    "unsupported_media_type", "disabled", "store_error", "busy", "timeout",
)
API_ENDPOINTS = (
    "images", "apps.create", "apps.update", "apps.list", "apps.get", "apps.delete",
    "apps.resize", "watch", "hook",
)

# Reporting back and notifications (docs/reporting.md): fixed values only.
REPORT_HOSTS = ("github", "gitlab", "gitea")
REPORT_KINDS = ("commit_status", "deployment")
DELIVERY_OUTCOMES = ("sent", "retried", "failed", "dropped")

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
# Waiting behind a rollout of the same cluster takes minutes: buckets up to half an hour.
_TRIGGER_BUCKETS = (*_LATENCY_BUCKETS, 300, 600, 900, 1800)
FINAL_OUTCOMES = ("succeeded", "failed", "timed_out", "superseded", "skipped", "error",
                  "canceled")
PRUNED_KINDS = ("deliveries", "deployments")
_ROLLOUT_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600)
# The SQLite store thread's jobs: from a tenth of a millisecond (a lone read) to seconds (a
# disk that stalls). Webhook answers wait for an ingest job: GitHub gives up after 10 s.
_STORE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                  0.25, 1, 2.5, 10)
STORE_LANES = ("ingest", "other")


class Metrics:
    """The metric families of one relay app, registered on `registry`.

    With `process` (the default) the registry also carries the Python client's process
    metrics (`process_*`: CPU seconds, resident memory, open file descriptors and their limit,
    start time; Linux only) and `python_info`.
    """

    def __init__(self, registry: CollectorRegistry | None = None, *,
                 process: bool = True) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        if process:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
        self.webhooks_received = Counter(
            "relay_webhooks_received_total", "Webhook deliveries received, by outcome.",
            ["source", "event", "outcome"], registry=r,
        )
        self.deployments = Counter(
            "relay_deployments_total", "Deployments that reached a final status.",
            ["cluster", "action", "outcome"], registry=r,
        )
        self.deployment_duration = Histogram(
            "relay_deployment_duration_seconds", "From trigger to final status.",
            ["cluster", "outcome"], buckets=_ROLLOUT_BUCKETS, registry=r,
        )
        self.delivery_to_trigger = Histogram(
            "relay_delivery_to_trigger_seconds",
            "From receipt of a delivery to the trigger accepted by the cluster API.",
            buckets=_TRIGGER_BUCKETS, registry=r,
        )
        self.deployments_queued = Gauge(
            "relay_deployments_queued", "Deployments waiting to run.", registry=r,
        )
        self.oldest_queued_age = Gauge(
            "relay_oldest_queued_deployment_age_seconds",
            "Age of the oldest queued deployment (0 when none is queued).", registry=r,
        )
        self.deployments_in_progress = Gauge(
            "relay_deployments_in_progress", "Deployments triggering or rolling out.", registry=r,
        )
        self.api_requests = Counter(
            "relay_cluster_api_requests_total", "Requests to the cluster API.",
            ["endpoint", "code"], registry=r,
        )
        self.api_request_duration = Histogram(
            "relay_cluster_api_request_duration_seconds", "Cluster API request latency.",
            ["endpoint"], buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.api_retries = Counter(
            "relay_cluster_api_retries_total", "Cluster API requests retried.",
            ["endpoint"], registry=r,
        )
        self.last_success = Gauge(
            "relay_cluster_last_success_timestamp_seconds",
            "When the newest succeeded deployment of a cluster finished (Unix seconds).",
            ["cluster"], registry=r,
        )
        # Catch-up and retention (issue 14).
        self.missed_pushes = Counter(
            "relay_missed_pushes_total",
            "Branch heads found by catch-up that no delivery brought (a missed push).",
            ["source"], registry=r,
        )
        self.store_pruned = Counter(
            "relay_store_pruned_total", "Rows removed from the store by retention.",
            ["kind"], registry=r,
        )
        for kind in PRUNED_KINDS:
            self.store_pruned.labels(kind=kind)
        # Deploy gates (docs/gates.md).
        self.rollbacks = Counter(
            "relay_rollbacks_total",
            "Rollback deployments that ended, by their final status.",
            ["cluster", "outcome"], registry=r,
        )
        self.deployments_waiting = Gauge(
            "relay_deployments_waiting",
            "Deployments waiting at a gate: checks (waiting_checks) or held.",
            ["reason"], registry=r,
        )
        for reason in ("checks", "held"):
            self.deployments_waiting.labels(reason=reason).set(0)
        self.cluster_held = Gauge(
            "relay_cluster_held", "1 while a hold (schedule or pause) covers the cluster.",
            ["cluster"], registry=r,
        )
        self.build_info = Gauge(
            "relay_build_info",
            "Always 1; the labels tell the build: relay version, git revision, Python version, "
            "store schema version.",
            ["version", "revision", "python", "schema"], registry=r,
        )
        self._build = (__version__, revision(), platform.python_version())
        self._schema = "unknown"
        self.build_info.labels(*self._build, self._schema).set(1)

        # -- reporting back and notifications (relay.outbox_sender) --------------------------
        self.reports = Counter(
            "relay_reports_total", "Reports to git hosts (commit statuses, deployments), "
            "by outcome.", ["host", "kind", "outcome"], registry=r,
        )
        self.notifications = Counter(
            "relay_notifications_total", "Notifications to the configured sinks, by outcome.",
            ["sink", "outcome"], registry=r,
        )
        self.store_wait = Histogram(
            "relay_store_wait_seconds",
            "SQLite store: seconds a job waited for the store's thread (lane ingest: webhook "
            "deliveries; other: the worker, the admin API, the status page).",
            ["lane"], buckets=_STORE_BUCKETS, registry=r,
        )
        self.store_job = Histogram(
            "relay_store_job_seconds",
            "SQLite store: seconds a job ran on the store's thread, its COMMIT included.",
            ["lane"], buckets=_STORE_BUCKETS, registry=r,
        )
        for lane in STORE_LANES:
            self.store_wait.labels(lane=lane)
            self.store_job.labels(lane=lane)
        self.outbox_pending = Gauge(
            "relay_outbox_pending",
            "Messages in the outbox not yet delivered (reports and notifications).",
            registry=r,
        )
        for host in REPORT_HOSTS:
            for kind in REPORT_KINDS:
                for outcome in DELIVERY_OUTCOMES:
                    self.reports.labels(host=host, kind=kind, outcome=outcome)

    def store_observer(self) -> Callable[[bool, float, float], None]:
        """The SQLite store thread's `observe` callback (relay.store.sqlite_thread): records
        (ingest lane?, seconds waited, seconds run) into relay_store_wait_seconds and
        relay_store_job_seconds, with the lanes' children bound once."""
        waits = {True: self.store_wait.labels(lane="ingest"),
                 False: self.store_wait.labels(lane="other")}
        jobs = {True: self.store_job.labels(lane="ingest"),
                False: self.store_job.labels(lane="other")}

        def observe(first: bool, waited_s: float, ran_s: float) -> None:
            waits[first].observe(waited_s)
            jobs[first].observe(ran_s)

        return observe

    def set_schema(self, version: int) -> None:
        """Label relay_build_info with the store's schema version (once the store is open)."""
        self.build_info.remove(*self._build, self._schema)
        self._schema = str(version)
        self.build_info.labels(*self._build, self._schema).set(1)

    def prime_sinks(self, sinks: Iterable[str]) -> None:
        """Create the notification series of the configured sinks at 0."""
        for sink in sinks:
            for outcome in DELIVERY_OUTCOMES:
                self.notifications.labels(sink=sink, outcome=outcome)

    def prime(self, *, sources: Iterable[str], deployments: Iterable[tuple[int, str]]) -> None:
        """Create every series the configuration implies at 0, so `increase()` and the alerts
        see the first event after a start (a counter otherwise appears only when it moves)."""
        deployments = tuple(deployments)
        for source in sources:
            for event in WEBHOOK_EVENTS:
                for outcome in WEBHOOK_OUTCOMES:
                    self.webhooks_received.labels(source=source, event=event, outcome=outcome)
            self.missed_pushes.labels(source=source)
        for cluster, action in deployments:
            for outcome in FINAL_OUTCOMES:
                self.deployments.labels(cluster=str(cluster), action=action, outcome=outcome)
        for endpoint in API_ENDPOINTS:
            self.api_retries.labels(endpoint=endpoint)
        for cluster, action in deployments:
            self.cluster_held.labels(cluster=str(cluster))
            if action == "version":  # only `action: version` routes roll back
                for outcome in ("succeeded", "failed", "timed_out"):
                    self.rollbacks.labels(cluster=str(cluster), outcome=outcome)
