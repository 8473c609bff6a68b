"""Every relay_* metric, built against a registry passed in (one registry per app)."""

from __future__ import annotations

import platform
from collections.abc import Iterable

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

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
# Waiting behind a rollout of the same cluster takes minutes: buckets up to half an hour.
_TRIGGER_BUCKETS = (*_LATENCY_BUCKETS, 300, 600, 900, 1800)
FINAL_OUTCOMES = ("succeeded", "failed", "timed_out", "superseded", "skipped", "error",
                  "canceled")
_ROLLOUT_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600)


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
            "Always 1; the labels tell the build: relay version, git revision, Python version.",
            ["version", "revision", "python"], registry=r,
        )
        self.build_info.labels(version=__version__, revision=revision(),
                               python=platform.python_version()).set(1)

    def prime(self, *, sources: Iterable[str], deployments: Iterable[tuple[int, str]]) -> None:
        """Create every series the configuration implies at 0, so `increase()` and the alerts
        see the first event after a start (a counter otherwise appears only when it moves)."""
        deployments = tuple(deployments)
        for source in sources:
            for event in WEBHOOK_EVENTS:
                for outcome in WEBHOOK_OUTCOMES:
                    self.webhooks_received.labels(source=source, event=event, outcome=outcome)
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
