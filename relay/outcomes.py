"""The post-finish seam: what happens once a deployment's status is committed.

`Outcomes.ended` runs only after the final status is in the store (relay/deploying.py calls it
from a shielded `finally`-like block): metrics, the canonical log line, then every listener,
each one guarded. Nothing here can finish a deployment again. A future outbox (reporting back
to git hosts, notifications) writes from here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from relay.deployment import Deployment, DeploymentStatus
from relay.logs import bound_logger
from relay.metrics import Metrics

log = structlog.get_logger("relay.worker")
_BOUND_LOG: list[Any] = []  # relay.logs.bound_logger's cache: a burst ends many at once

FinalListener = Callable[[Deployment], None]
StatusListener = Callable[[int, DeploymentStatus], None]


class Outcomes:
    """What happens once a status is committed: metrics, the log line, listeners (guarded)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        # relay_deployments_total's children by (cluster, action, outcome): labels() validates
        # and locks on every call, and a claim over a burst ends hundreds of deployments.
        self._counted: dict[tuple[str, str, str], Any] = {}
        self.listeners: list[FinalListener] = []
        self.status_listeners: list[StatusListener] = []

    def status(self, dep_id: int, status: DeploymentStatus) -> None:
        """A status was committed (open or final): tell the status listeners."""
        for listener in self.status_listeners:
            _guarded(listener, dep_id, status)

    def ended(self, dep: Deployment, **extra: Any) -> None:
        """`dep` reached its committed final status: count it, log it, tell the listeners.

        Never raises: a listener that raises is logged and the others still run.
        """
        m = self._metrics
        cluster = str(dep.cluster)
        try:
            key = (cluster, dep.action.value, dep.status.value)
            counter = self._counted.get(key)
            if counter is None:
                counter = self._counted[key] = m.deployments.labels(
                    cluster=cluster, action=key[1], outcome=key[2])
            counter.inc()
            if dep.status is DeploymentStatus.SUCCEEDED and dep.finished_at is not None:
                m.last_success.labels(cluster=cluster).set(dep.finished_at.timestamp())
            rollout_s = None
            if dep.triggered_at and dep.finished_at:
                rollout_s = (dep.finished_at - dep.triggered_at).total_seconds()
                m.deployment_duration.labels(cluster=cluster, outcome=dep.status.value).observe(
                    rollout_s)
            total_s = ((dep.finished_at - dep.created_at).total_seconds()
                       if dep.finished_at else None)
            bound = bound_logger("relay.worker", _BOUND_LOG)
            level = bound.info if dep.status in _QUIET else bound.warning
            level("deployment finished", deployment_id=dep.id, cluster=dep.cluster,
                  action=dep.action.value, kind=dep.kind_value, version=dep.version,
                  outcome=dep.status.value,
                  error=dep.error, superseded_by=dep.superseded_by, rollout_s=rollout_s,
                  total_s=total_s, attempts=dep.attempts, **extra)
        except Exception:  # noqa: BLE001 - the seam never raises
            log.exception("recording a finished deployment failed", deployment_id=dep.id)
        self.status(dep.id, dep.status)
        for listener in self.listeners:
            _guarded(listener, dep)


_QUIET = frozenset({DeploymentStatus.SUCCEEDED, DeploymentStatus.SUPERSEDED,
                    DeploymentStatus.SKIPPED, DeploymentStatus.CANCELED})


def _guarded(listener: Callable[..., None], *args: Any) -> None:
    try:
        listener(*args)
    except Exception:  # noqa: BLE001 - a listener's failure is its own
        log.exception("deployment listener failed", listener=getattr(listener, "__name__",
                                                                       type(listener).__name__))


