"""Statuses and kinds the gates add to docs/operations.md (pure values).

`relay.deployment.DeploymentStatus` does not have the two waiting statuses yet, and
`Deployment` has no `kind`; these enums carry the contract's spellings until they move there.
"""

from __future__ import annotations

import enum


class WaitingStatus(enum.StrEnum):
    """The statuses of a deployment that has not started: two gates, then the queue."""

    WAITING_CHECKS = "waiting_checks"  # the commit's checks are not green yet
    HELD = "held"  # a hold covers the cluster
    QUEUED = "queued"  # waits only for the cluster's running deployment


class DeploymentKind(enum.StrEnum):
    """Why a deployment exists (docs/operations.md, `kind`)."""

    PUSH = "push"
    MANUAL = "manual"
    REDELIVERY = "redelivery"
    ROLLBACK = "rollback"
    CATCH_UP = "catch_up"

    @property
    def automatic(self) -> bool:
        """Brought by a git host rather than asked for: quarantine and rollback apply.

        A redelivery replays a stored push, so it counts as automatic here (issue 13: "a
        redelivery of X is skipped (quarantined)"); a rollback is relay's own and is exempt.
        """
        return self in (DeploymentKind.PUSH, DeploymentKind.REDELIVERY, DeploymentKind.CATCH_UP)
