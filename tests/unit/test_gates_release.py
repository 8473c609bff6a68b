"""Latest-wins across waiting statuses and the release of held deployments (relay.gates.release)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.gates.holds import ActiveHold, HoldKind, ScheduledHold, active_holds
from relay.gates.release import (
    Refusal,
    RefusalKind,
    Release,
    Supersede,
    Waiting,
    admit,
    apply,
    decide_release,
    refuse_manual,
)
from relay.gates.statuses import WaitingStatus

T0 = datetime(2026, 3, 27, 17, tzinfo=UTC)
HELD, CHECKS, QUEUED = WaitingStatus.HELD, WaitingStatus.WAITING_CHECKS, WaitingStatus.QUEUED


def w(i: int, status: WaitingStatus, *, override: bool = False) -> Waiting:
    return Waiting(i, status, T0 + timedelta(seconds=i), override)


@pytest.mark.parametrize(("waiting", "hold_active", "expected"), [
    ([], False, Release()),
    ([], True, Release()),
    # A single held one: stays while held, is queued when the hold is over.
    ([w(1, HELD)], True, Release()),
    ([w(1, HELD)], False, Release(queue=1)),
    # A newer push supersedes older waiting ones, in every status.
    ([w(1, HELD), w(2, HELD)], True, Release((Supersede(1, 2),))),
    ([w(1, HELD), w(2, HELD), w(3, HELD)], False,
     Release((Supersede(1, 3), Supersede(2, 3)), queue=3)),
    ([w(1, QUEUED), w(2, CHECKS)], False, Release((Supersede(1, 2),))),
    ([w(1, CHECKS), w(2, HELD)], True, Release((Supersede(1, 2),))),
    ([w(1, HELD), w(2, CHECKS)], False, Release((Supersede(1, 2),))),  # waits for its checks
    ([w(1, HELD), w(2, QUEUED, override=True)], True, Release((Supersede(1, 2),))),
    # A queued one that has not started when a hold begins waits as held ...
    ([w(1, QUEUED)], True, Release(hold=1)),
    # ... unless it was asked for by hand with override_hold.
    ([w(1, QUEUED, override=True)], True, Release()),
    ([w(1, QUEUED)], False, Release()),
    ([w(1, CHECKS)], True, Release()),
    # Order is by receipt (ties broken by id), not by the order given.
    ([w(3, HELD), w(1, HELD), w(2, QUEUED)], False,
     Release((Supersede(1, 3), Supersede(2, 3)), queue=3)),
    ([Waiting(5, HELD, T0), Waiting(4, HELD, T0)], False, Release((Supersede(4, 5),), queue=5)),
])
def test_decide_release(waiting: list[Waiting], hold_active: bool, expected: Release) -> None:
    assert decide_release(waiting, hold_active=hold_active) == expected


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate ids"):
        decide_release([w(1, HELD), w(1, QUEUED)], hold_active=False)


@pytest.mark.parametrize(("checks", "hold", "manual", "override", "expected"), [
    (True, True, False, False, CHECKS),  # checks come before holds
    (True, False, False, False, CHECKS),
    (False, True, False, False, HELD),
    (False, False, False, False, QUEUED),
    (True, False, True, False, QUEUED),  # a manual deployment does not wait for checks
    (True, True, True, True, QUEUED),  # a manual deployment with override_hold
    (False, True, True, False, HELD),
    (False, True, False, True, HELD),  # only a manual deployment can override
])
def test_admit_orders_the_gates(checks: bool, hold: bool, manual: bool, override: bool,
                                expected: WaitingStatus) -> None:
    status = admit(wait_for_checks=checks, hold_active=hold, manual=manual,
                   override_hold=override)
    assert status is expected


FREEZE_NOW = ActiveHold(HoldKind.SCHEDULE, "weekend-freeze", "r", T0, T0 + timedelta(hours=62))
PAUSED = ActiveHold(HoldKind.PAUSE, "pause", "incident 42", None, None)


@pytest.mark.parametrize(("active", "override", "reason", "expected"), [
    ((), False, None, None),
    ((FREEZE_NOW,), True, "hotfix for incident 42", None),
    ((FREEZE_NOW,), False, None, Refusal(
        RefusalKind.HELD, 'cluster 10702 is held (hold weekend-freeze, until '
        '2026-03-30T07:00:00.000Z); send "override_hold": true with a "reason" to deploy '
        'anyway')),
    ((PAUSED, FREEZE_NOW), False, "why not", Refusal(
        RefusalKind.HELD, 'cluster 10702 is held (paused: incident 42, until resumed, hold '
        'weekend-freeze, until 2026-03-30T07:00:00.000Z); send "override_hold": true with a '
        '"reason" to deploy anyway')),
    ((FREEZE_NOW,), True, "  ", Refusal(RefusalKind.NO_REASON, "override_hold needs a reason")),
    ((), True, None, Refusal(RefusalKind.NO_REASON, "override_hold needs a reason")),
])
def test_refuse_manual(active: tuple[ActiveHold, ...], override: bool, reason: str | None,
                       expected: Refusal | None) -> None:
    assert refuse_manual(10702, active, override_hold=override, reason=reason) == expected


waitings = st.lists(
    st.builds(Waiting, id=st.integers(0, 10_000), status=st.sampled_from(list(WaitingStatus)),
              received_at=st.datetimes(min_value=datetime(2026, 1, 1),
                                       max_value=datetime(2026, 1, 2), timezones=st.just(UTC)),
              override_hold=st.booleans()),
    max_size=12, unique_by=lambda x: x.id)


@given(waiting=waitings, hold_active=st.booleans())
def test_one_decision_settles_the_cluster(waiting: list[Waiting], hold_active: bool) -> None:
    first = decide_release(waiting, hold_active=hold_active)
    after = apply(waiting, first)
    assert len(after) == min(1, len(waiting))  # only the newest is left waiting
    assert decide_release(after, hold_active=hold_active).empty  # idempotent
    if after:
        newest = max(waiting, key=lambda x: (x.received_at, x.id))
        assert after[0].id == newest.id
        if hold_active and not newest.override_hold:
            assert after[0].status is not QUEUED  # nothing starts during a hold
        if not hold_active:
            assert after[0].status is not HELD  # nothing stays held after it


class ConditionalStore:
    """The store's side of "exactly once": a move applies only from the status decided on."""

    def __init__(self, waiting: list[Waiting]) -> None:
        self.rows = {x.id: x for x in waiting}
        self.released: list[int] = []

    def carry_out(self, seen: tuple[Waiting, ...], release: Release) -> None:
        before = {x.id: x.status for x in seen}
        for s in release.superseded:
            if s.id in self.rows and self.rows[s.id].status is before[s.id]:
                del self.rows[s.id]
        if release.queue is not None and self.rows.get(release.queue) == \
                next(x for x in seen if x.id == release.queue):
            self.rows[release.queue] = Waiting(release.queue, QUEUED,
                                               self.rows[release.queue].received_at)
            self.released.append(release.queue)


def test_freeze_scenario_under_a_fake_clock_with_three_replicas() -> None:
    freeze = ScheduledHold(name="weekend-freeze", schedule="0 18 * * FRI", duration_s=223200,
                           timezone="Europe/Berlin")
    received = T0 + timedelta(hours=1)  # Friday 19:00 CET: inside the freeze
    assert active_holds([freeze], [], 10702, "acme/shop", received)
    first = Waiting(1, admit(wait_for_checks=False, hold_active=True), received)
    assert first.status is HELD
    second = Waiting(2, HELD, received + timedelta(hours=5))
    store = ConditionalStore([first, second])
    # Every replica looks every ten minutes (and restarts lose nothing: the state is the store).
    now = received
    while now < datetime(2026, 3, 30, 12, tzinfo=UTC):
        seen = tuple(store.rows.values())
        held = bool(active_holds([freeze], [], 10702, "acme/shop", now))
        decisions = [decide_release(seen, hold_active=held) for _replica in range(3)]
        for decision in decisions:  # three replicas decided on the same snapshot
            store.carry_out(seen, decision)
        if store.released:
            break
        now += timedelta(minutes=10)
    assert store.released == [2]  # the newest, once
    assert now == datetime(2026, 3, 30, 6, tzinfo=UTC)  # Monday 08:00 CEST
    assert list(store.rows) == [2]
