"""Latest-wins across the waiting statuses of one cluster, and who is released from `held` (pure).

Also which waiting status a new deployment starts in (`admit`) and whether a manual request
may start during a hold (`refuse_manual`).

docs/gates.md: a newer push for a cluster supersedes the older waiting ones
(`waiting_checks`, `held` or `queued`), so only the newest is ever released; when the hold
ends, the newest held deployment becomes `queued` by itself, exactly once. "Exactly once"
rests on two things: this function is idempotent (applying its answer and asking again
changes nothing: tested), and the store applies each move as a conditional update
(`held` -> `queued` only while still `held`), so a second replica's identical decision is a
no-op.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from relay.deployment import iso
from relay.gates.holds import ActiveHold, HoldKind
from relay.gates.statuses import WaitingStatus


@dataclass(frozen=True, slots=True)
class Waiting:
    """A deployment of the cluster that has not started.

    Received order is (`received_at`, `id`): ids break ties between equal times.
    `override_hold`: asked for by hand with `"override_hold": true` and a reason; it is never
    moved to `held`.
    """

    id: int
    status: WaitingStatus
    received_at: datetime
    override_hold: bool = False


@dataclass(frozen=True, slots=True)
class Supersede:
    """Mark deployment `id` `superseded`, with `superseded_by` = `by`."""

    id: int
    by: int


@dataclass(frozen=True, slots=True)
class Release:
    """The moves to make, each only from the status the deployment had when decided.

    `queue`: the id to move `held` -> `queued` (the hold is over). `hold`: the id to move
    `queued` -> `held` (a hold began before it started).
    """

    superseded: tuple[Supersede, ...] = ()
    queue: int | None = None
    hold: int | None = None

    @property
    def empty(self) -> bool:
        """Nothing to change."""
        return not self.superseded and self.queue is None and self.hold is None


def decide_release(waiting: Sequence[Waiting], *, hold_active: bool) -> Release:
    """Which waiting deployments of one cluster are superseded, released or held.

    The newest by received order wins and supersedes every older waiting one, whatever their
    statuses. Then: newest `held` and no hold active -> `queue` it; newest `queued` (without
    `override_hold`) while a hold is active -> `hold` it; `waiting_checks` stays for the
    checks gate (relay.gates.checks). Raises ValueError on duplicate ids.
    """
    if len({w.id for w in waiting}) != len(waiting):
        raise ValueError("waiting deployments with duplicate ids")
    if not waiting:
        return Release()
    newest = max(waiting, key=lambda w: (w.received_at, w.id))
    superseded = tuple(Supersede(w.id, newest.id)
                       for w in sorted(waiting, key=lambda w: (w.received_at, w.id))
                       if w is not newest)
    queue = newest.id if newest.status is WaitingStatus.HELD and not hold_active else None
    hold = newest.id if (newest.status is WaitingStatus.QUEUED and hold_active
                         and not newest.override_hold) else None
    return Release(superseded, queue, hold)


def admit(*, wait_for_checks: bool, hold_active: bool, manual: bool = False,
          override_hold: bool = False) -> WaitingStatus:
    """The first waiting status of a new deployment, or the next one when its checks pass.

    Gates in docs/gates.md order: checks (`wait_for_checks`: the route waits for checks;
    pass False once they are green; a manual deployment never waits for them), then holds
    (unless a manual deployment overrides the hold), then the queue.
    """
    if wait_for_checks and not manual:
        return WaitingStatus.WAITING_CHECKS
    if hold_active and not (manual and override_hold):
        return WaitingStatus.HELD
    return WaitingStatus.QUEUED


class RefusalKind(enum.StrEnum):
    """Why a manual deployment request is refused (the admin API maps each to a status)."""

    HELD = "held"  # a hold covers the cluster and the request does not override it (409)
    NO_REASON = "no_reason"  # override_hold without a reason (400)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refused manual deployment; `message` names the holds and what to send instead."""

    kind: RefusalKind
    message: str


def refuse_manual(cluster: int, active: Sequence[ActiveHold], *, override_hold: bool,
                  reason: str | None) -> Refusal | None:
    """Whether a manual deployment on `cluster` may be queued now (None: it may).

    `active`: relay.gates.holds.active_holds for the cluster now. During a hold the request
    must say `"override_hold": true` with a non-empty `"reason"` (recorded on the
    deployment); an override without a reason is refused even when nothing holds.
    """
    if override_hold and not (reason and reason.strip()):
        return Refusal(RefusalKind.NO_REASON, "override_hold needs a reason")
    if active and not override_hold:
        names = ", ".join(_words(hold) for hold in active)
        return Refusal(RefusalKind.HELD, f"cluster {cluster} is held ({names}); send "
                       "\"override_hold\": true with a \"reason\" to deploy anyway")
    return None


def _words(hold: ActiveHold) -> str:
    until = "until resumed" if hold.until is None else f"until {iso(hold.until)}"
    label = f"paused: {hold.reason}" if hold.kind is HoldKind.PAUSE else f"hold {hold.name}"
    return f"{label}, {until}"


def apply(waiting: Sequence[Waiting], release: Release) -> tuple[Waiting, ...]:
    """The waiting deployments after `release` is carried out (superseded ones leave).

    What a store does with the decision, as a pure function: used by tests to show the
    decision is idempotent, and by anyone who wants to preview it.
    """
    gone = {s.id for s in release.superseded}
    moved = {release.queue: WaitingStatus.QUEUED, release.hold: WaitingStatus.HELD}
    return tuple(
        Waiting(w.id, moved.get(w.id, w.status), w.received_at, w.override_hold)
        for w in waiting if w.id not in gone)
