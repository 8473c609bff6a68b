"""Which version `relay rollback CLUSTER` deploys (pure: a decision over listed deployments)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class RollbackPlan:
    current: dict[str, Any]  # the deployment the cluster's version came from
    target: dict[str, Any]  # the newest succeeded deployment before it, of another version


class NothingToRollBackTo(Exception):
    """No deployment to roll back from, or none succeeded before it with another version."""


def plan_rollback(deployments: Sequence[dict[str, Any]]) -> RollbackPlan:
    """Pick the rollback of one cluster from its deployments, newest first.

    The current deployment is the newest that was triggered (it has `triggered_at`: whatever
    it ended as, its version may be on the cluster now). The target is the newest
    `succeeded` deployment older than it whose version differs from the current one.
    """
    current_index = next((i for i, d in enumerate(deployments) if d.get("triggered_at")), None)
    if current_index is None:
        raise NothingToRollBackTo("no deployment of this cluster was triggered yet")
    current = deployments[current_index]
    for dep in deployments[current_index + 1:]:
        if dep.get("status") == "succeeded" and dep.get("version") != current.get("version"):
            return RollbackPlan(current=current, target=dep)
    raise NothingToRollBackTo(
        f"no succeeded deployment of another version before deployment {current['id']} "
        f"({current['version']})")
