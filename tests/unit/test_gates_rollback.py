"""Rollback after a failure, the pause when it cannot help, and quarantine (gates.rollback)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from relay.deployment import DeploymentStatus
from relay.gates.holds import Pause
from relay.gates.rollback import (
    ROLLBACK_FAILED,
    Action,
    FailedDeployment,
    OnFailure,
    QuarantineCheck,
    QuarantineEntry,
    RollbackDecision,
    check_quarantine,
    consequences,
    decide_rollback,
)
from relay.gates.statuses import DeploymentKind

X, GOOD, OLD = "x" * 40, "9" * 40, "1" * 40
FAILED, TIMED_OUT = DeploymentStatus.FAILED, DeploymentStatus.TIMED_OUT
PUSH, MANUAL, ROLLBACK = DeploymentKind.PUSH, DeploymentKind.MANUAL, DeploymentKind.ROLLBACK


def failed(*, kind: DeploymentKind = PUSH, status: DeploymentStatus = FAILED,
           snapshot: str | None = OLD, failing: bool = False,
           version: str = X) -> FailedDeployment:
    return FailedDeployment(id=7, cluster=10702, version=version, kind=kind, status=status,
                            snapshot_version=snapshot, snapshot_failing=failing)


@pytest.mark.parametrize(("dep", "last_good", "newer", "expected"), [
    # The newest succeeded deployment's version wins.
    (failed(), GOOD, False, RollbackDecision(
        Action.ROLLBACK, f"rolling back to {GOOD[:12]} after deployment 7 ended failed",
        GOOD, quarantine=True)),
    (failed(status=TIMED_OUT), GOOD, False, RollbackDecision(
        Action.ROLLBACK, f"rolling back to {GOOD[:12]} after deployment 7 ended timed_out",
        GOOD, quarantine=True)),
    # No succeeded deployment: the snapshot's version, when the cluster was healthy then.
    (failed(), None, False, RollbackDecision(
        Action.ROLLBACK, f"rolling back to {OLD[:12]} after deployment 7 ended failed",
        OLD, quarantine=True)),
    (failed(failing=True), None, False, RollbackDecision(
        Action.PAUSE, "no known good version to roll back to", quarantine=True)),
    (failed(snapshot=None), None, False, RollbackDecision(
        Action.PAUSE, "no known good version to roll back to", quarantine=True)),
    # "Good" versions equal to the failed one are no good.
    (failed(snapshot=X), X, False, RollbackDecision(
        Action.PAUSE, "no known good version to roll back to", quarantine=True)),
    (failed(), X.upper(), False, RollbackDecision(
        Action.ROLLBACK, f"rolling back to {OLD[:12]} after deployment 7 ended failed",
        OLD, quarantine=True)),
    # Something newer is waiting: it runs instead; the failed commit is still quarantined.
    (failed(), GOOD, True, RollbackDecision(
        Action.NONE, "a newer deployment is waiting and runs instead", quarantine=True)),
    # A failed rollback pauses the cluster and is never rolled back.
    (failed(kind=ROLLBACK), GOOD, False, RollbackDecision(
        Action.PAUSE, "rollback deployment 7 ended failed")),
    (failed(kind=ROLLBACK), GOOD, True, RollbackDecision(
        Action.PAUSE, "rollback deployment 7 ended failed")),
    # A manual deployment is not rolled back (nor quarantined).
    (failed(kind=MANUAL), GOOD, False, RollbackDecision(
        Action.NONE, "a manual deployment is not rolled back")),
    # Redeliveries and catch-up are automatic.
    (failed(kind=DeploymentKind.CATCH_UP), GOOD, False, RollbackDecision(
        Action.ROLLBACK, f"rolling back to {GOOD[:12]} after deployment 7 ended failed",
        GOOD, quarantine=True)),
    (failed(status=DeploymentStatus.ERROR), GOOD, False, RollbackDecision(
        Action.NONE, "the deployment ended error")),  # the API refused: nothing rolled out
])
def test_decide_rollback(dep: FailedDeployment, last_good: str | None, newer: bool,
                         expected: RollbackDecision) -> None:
    decided = decide_rollback(dep, on_failure=OnFailure.ROLLBACK, action="version",
                              last_succeeded_version=last_good, newer_waiting=newer)
    assert decided == expected
    assert decided.pause_reason == (ROLLBACK_FAILED if expected.action is Action.PAUSE else None)


@pytest.mark.parametrize(("on_failure", "action"), [
    (OnFailure.NONE, "version"),
    (OnFailure.ROLLBACK, "hook"),  # a configuration error; never acted on
])
def test_no_rollback_without_on_failure_rollback(on_failure: OnFailure, action: str) -> None:
    decided = decide_rollback(failed(), on_failure=on_failure, action=action,
                              last_succeeded_version=GOOD, newer_waiting=False)
    assert decided.action is Action.NONE and not decided.quarantine


ENTRY = QuarantineEntry(cluster=10702, version=X, deployment_id=7,
                        created_at=datetime(2026, 5, 4, tzinfo=UTC))


@pytest.mark.parametrize(("cluster", "version", "kind", "expected"), [
    (10702, X, PUSH, QuarantineCheck(True, "quarantined after deployment 7 failed")),
    (10702, X.upper(), DeploymentKind.REDELIVERY,
     QuarantineCheck(True, "quarantined after deployment 7 failed")),
    (10702, X, DeploymentKind.CATCH_UP,
     QuarantineCheck(True, "quarantined after deployment 7 failed")),
    (10702, X, MANUAL, QuarantineCheck(False, lift=ENTRY)),  # runs and lifts it
    (10702, X, ROLLBACK, QuarantineCheck(False)),
    (10702, GOOD, PUSH, QuarantineCheck(False)),  # newer commits deploy as usual
    (10800, X, PUSH, QuarantineCheck(False)),  # only on the cluster where it failed
])
def test_quarantine(cluster: int, version: str, kind: DeploymentKind,
                    expected: QuarantineCheck) -> None:
    assert check_quarantine([ENTRY], cluster=cluster, version=version, kind=kind) == expected


def test_nothing_is_quarantined_without_entries() -> None:
    assert check_quarantine([], cluster=1, version=X, kind=PUSH) == QuarantineCheck(False)


@pytest.mark.parametrize(("kind", "automatic"), [
    (DeploymentKind.PUSH, True), (DeploymentKind.REDELIVERY, True),
    (DeploymentKind.CATCH_UP, True), (DeploymentKind.MANUAL, False),
    (DeploymentKind.ROLLBACK, False),
])
def test_automatic_kinds(kind: DeploymentKind, automatic: bool) -> None:
    assert kind.automatic is automatic


NOW = datetime(2026, 5, 4, 12, tzinfo=UTC)


def test_consequences_of_each_action() -> None:
    dep = failed()
    rollback = decide_rollback(dep, on_failure=OnFailure.ROLLBACK, action="version",
                               last_succeeded_version=GOOD, newer_waiting=False)
    assert consequences(rollback, dep, NOW) == (None, QuarantineEntry(10702, X, 7, NOW))
    pause = decide_rollback(failed(snapshot=None), on_failure=OnFailure.ROLLBACK,
                            action="version", last_succeeded_version=None, newer_waiting=False)
    assert consequences(pause, dep, NOW) == (
        Pause(cluster=10702, reason="rollback failed", until=None, since=NOW),
        QuarantineEntry(10702, X, 7, NOW))
    failed_rollback = failed(kind=ROLLBACK)
    decided = decide_rollback(failed_rollback, on_failure=OnFailure.ROLLBACK, action="version",
                              last_succeeded_version=GOOD, newer_waiting=False)
    pause_only, entry = consequences(decided, failed_rollback, NOW)
    assert pause_only is not None and pause_only.reason == "rollback failed" and entry is None
    nothing = decide_rollback(dep, on_failure=OnFailure.NONE, action="version",
                              last_succeeded_version=GOOD, newer_waiting=False)
    assert consequences(nothing, dep, NOW) == (None, None)
