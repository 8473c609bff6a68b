"""After an automatic deployment fails: roll back, pause the cluster, or nothing; quarantine (pure).

docs/gates.md (`routes[].on_failure: rollback`, `action: version` only). When an
automatic deployment ends `failed` or `timed_out` and nothing newer for the cluster is waiting
or queued, relay queues a `rollback` deployment of the last good version: the version of the
newest `succeeded` deployment of that cluster, else the version in the failed deployment's
snapshot when the cluster was not in a `_fail` status then. A failed rollback, or no good
version, pauses the cluster with reason `rollback failed`. The failed commit is quarantined on
the cluster: later automatic deployments of it are skipped; a manual one runs and lifts it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from relay.deployment import DeploymentStatus
from relay.gates.holds import Pause
from relay.gates.statuses import DeploymentKind

ROLLBACK_FAILED = "rollback failed"  # the reason of the pause (a hold) a failed rollback sets
_FAILED = frozenset({DeploymentStatus.FAILED, DeploymentStatus.TIMED_OUT})


class OnFailure(enum.StrEnum):
    """A route's `on_failure`."""

    NONE = "none"
    ROLLBACK = "rollback"


class Action(enum.StrEnum):
    """What relay does after the failure."""

    NONE = "none"
    ROLLBACK = "rollback"  # queue a `rollback` deployment of `version`
    PAUSE = "pause"  # pause the cluster with reason ROLLBACK_FAILED and raise the alert


@dataclass(frozen=True, slots=True)
class FailedDeployment:
    """The deployment that just ended, with what its snapshot recorded before the trigger.

    `snapshot_version`: the cluster's `version_control.version` then (None if unknown);
    `snapshot_failing`: the cluster was in a status ending in `_fail` then.
    """

    id: int
    cluster: int
    version: str
    kind: DeploymentKind
    status: DeploymentStatus
    snapshot_version: str | None = None
    snapshot_failing: bool = False


@dataclass(frozen=True, slots=True)
class RollbackDecision:
    """What to do. `version`: the version to roll back to (ROLLBACK only). `quarantine`:
    quarantine `FailedDeployment.version` on its cluster (with `quarantine_reason`)."""

    action: Action
    reason: str
    version: str | None = None
    quarantine: bool = False

    @property
    def pause_reason(self) -> str | None:
        """The reason of the pause to set, or None."""
        return ROLLBACK_FAILED if self.action is Action.PAUSE else None


def decide_rollback(failed: FailedDeployment, *, on_failure: OnFailure, action: str,
                    last_succeeded_version: str | None,
                    newer_waiting: bool) -> RollbackDecision:
    """The decision for `failed`, a ladder in the order of docs/gates.md.

    `action`: the route's action (`version` or `hook`); `last_succeeded_version`: the version
    of the newest `succeeded` deployment of the cluster (None: none); `newer_waiting`: a
    deployment newer than `failed` is `waiting_checks`, `held` or `queued` for the cluster.

    A good version equal to the failed one is no good: the snapshot is tried next, then the
    cluster is paused. The failed commit of an automatic deployment is quarantined even when
    something newer is waiting (a redelivery of it must still be skipped). A failed rollback
    pauses the cluster and is never rolled back itself.
    """
    if on_failure is not OnFailure.ROLLBACK:
        return RollbackDecision(Action.NONE, "the route's on_failure is none")
    if action != "version":
        return RollbackDecision(Action.NONE, "on_failure: rollback needs action: version")
    if failed.status not in _FAILED:
        return RollbackDecision(Action.NONE, f"the deployment ended {failed.status.value}")
    if failed.kind is DeploymentKind.ROLLBACK:
        return RollbackDecision(Action.PAUSE, f"rollback deployment {failed.id} "
                                f"ended {failed.status.value}")
    if not failed.kind.automatic:
        return RollbackDecision(Action.NONE, f"a {failed.kind.value} deployment is not "
                                "rolled back")
    if newer_waiting:
        return RollbackDecision(Action.NONE, "a newer deployment is waiting and runs instead",
                                quarantine=True)
    good = good_version(failed, last_succeeded_version)
    if good is None:
        return RollbackDecision(Action.PAUSE, "no known good version to roll back to",
                                quarantine=True)
    return RollbackDecision(Action.ROLLBACK, f"rolling back to {good[:12]} after deployment "
                            f"{failed.id} ended {failed.status.value}", good, quarantine=True)


def good_version(failed: FailedDeployment, last_succeeded_version: str | None) -> str | None:
    """The last good version for `failed`'s cluster, or None (see `decide_rollback`)."""
    candidates = [last_succeeded_version]
    if not failed.snapshot_failing:
        candidates.append(failed.snapshot_version)
    return next((v for v in candidates if v and not same_version(v, failed.version)), None)


def consequences(decision: RollbackDecision, failed: FailedDeployment,
                 now: datetime) -> tuple[Pause | None, QuarantineEntry | None]:
    """The pause (reason ROLLBACK_FAILED, until resumed) and the quarantine entry that
    `decision` calls for, as values to store; None where it calls for none."""
    pause = (Pause(cluster=failed.cluster, reason=ROLLBACK_FAILED, since=now)
             if decision.action is Action.PAUSE else None)
    entry = (QuarantineEntry(failed.cluster, failed.version, failed.id, now)
             if decision.quarantine else None)
    return pause, entry


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    """Commit `version` is quarantined on `cluster` since deployment `deployment_id` failed."""

    cluster: int
    version: str
    deployment_id: int
    created_at: datetime

    @property
    def reason(self) -> str:
        """The `skipped` reason of docs/gates.md."""
        return f"quarantined after deployment {self.deployment_id} failed"


@dataclass(frozen=True, slots=True)
class QuarantineCheck:
    """`skip`: skip the deployment with `reason`. `lift`: the entry a manual deployment lifts."""

    skip: bool
    reason: str | None = None
    lift: QuarantineEntry | None = None


def check_quarantine(entries: Iterable[QuarantineEntry], *, cluster: int, version: str,
                     kind: DeploymentKind) -> QuarantineCheck:
    """Whether a deployment of `version` on `cluster` is quarantined.

    Automatic kinds (push, redelivery, catch_up) of a quarantined commit are skipped; a manual
    deployment runs and lifts the quarantine; a rollback deployment is never skipped.
    Versions compare ignoring case (hex SHAs).
    """
    entry = next((e for e in entries
                  if e.cluster == cluster and same_version(e.version, version)), None)
    if entry is None:
        return QuarantineCheck(skip=False)
    if kind is DeploymentKind.MANUAL:
        return QuarantineCheck(skip=False, lift=entry)
    if kind.automatic:
        return QuarantineCheck(skip=True, reason=entry.reason)
    return QuarantineCheck(skip=False)


def same_version(a: str, b: str) -> bool:
    """Two commit ids name the same commit (full SHAs, compared ignoring case)."""
    return a.casefold() == b.casefold()
