"""The deploy gates' store methods (docs/gates.md), on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import timedelta

from relay.deployment import Deployment, DeploymentKind, DeploymentStatus
from relay.gates.holds import Pause
from relay.gates.rollback import QuarantineEntry
from relay.store import Store
from tests.integration.test_store import NOW, planned, store  # noqa: F401 - the fixture

HELD, QUEUED, SUPERSEDED = (DeploymentStatus.HELD, DeploymentStatus.QUEUED,
                            DeploymentStatus.SUPERSEDED)


async def test_a_held_deployment_is_released_once(store: Store) -> None:  # noqa: F811
    dep = await store.enqueue(planned(status=HELD), now=NOW)
    assert dep.status is HELD and dep.kind is DeploymentKind.PUSH
    assert [d.id for d in await store.gate_waiting()] == [dep.id]
    moved = await store.gate_move(dep.id, expect=HELD, to=QUEUED, now=NOW)
    assert moved is not None and moved.status is QUEUED and moved.finished_at is None
    assert await store.gate_move(dep.id, expect=HELD, to=QUEUED, now=NOW) is None
    assert await store.gate_waiting() == ()


async def test_superseding_a_waiting_deployment_ends_it(store: Store) -> None:  # noqa: F811
    old = await store.enqueue(planned(status=HELD), now=NOW)
    new = await store.enqueue(planned(version="c" * 40, status=HELD), now=NOW)
    gone = await store.gate_move(old.id, expect=HELD, to=SUPERSEDED, now=NOW,
                                 superseded_by=new.id)
    assert gone is not None and gone.superseded_by == new.id and gone.finished_at is not None
    canceled = await store.cancel(new.id, now=NOW, reason="test")  # held is open: cancelable
    assert canceled.status is DeploymentStatus.CANCELED


async def test_pauses_quarantine_and_rollback_links(store: Store) -> None:  # noqa: F811
    until = NOW + timedelta(hours=1)
    await store.set_pause(Pause(10702, "db migration", until, NOW))
    await store.set_pause(Pause(10702, "longer", None, NOW))  # replaces the first
    assert await store.pauses() == (Pause(10702, "longer", None, NOW),)
    assert await store.clear_pause(10702) and not await store.clear_pause(10702)
    failed = await store.enqueue(planned(), now=NOW)
    await store.add_quarantine(QuarantineEntry(10702, "B" * 40, failed.id, NOW))
    assert await store.quarantine() == (QuarantineEntry(10702, "b" * 40, failed.id, NOW),)
    assert await store.clear_quarantine(10702, "B" * 40)
    assert await store.quarantine() == ()
    rollback = await store.enqueue(planned(version="a" * 40, kind=DeploymentKind.ROLLBACK,
                                           rollback_of=failed.id, manual=True), now=NOW)
    await store.link_rollback(failed.id, rollback.id)
    linked = await store.get_deployment(failed.id)
    assert linked is not None and linked.rolled_back_by == rollback.id
    assert rollback.rollback_of == failed.id and rollback.kind is DeploymentKind.ROLLBACK
    assert await store.last_succeeded_version(10702) is None


async def test_every_gate_move_writes_its_outbox_messages(store: Store) -> None:  # noqa: F811
    recorded: list[str] = []

    def policy(dep: Deployment, superseded: tuple[Deployment, ...]) -> tuple[()]:
        recorded.append(dep.status.value)
        return ()

    store.outbox_policy = policy  # type: ignore[attr-defined]
    dep = await store.enqueue(planned(), now=NOW)
    claim = await store.claim(owner="w", now=NOW, lease_s=30)
    assert claim is not None and claim.deployment.id == dep.id
    assert await store.hold_claimed(dep.id, fence=claim.fence, now=NOW)  # a hold began
    await store.gate_move(dep.id, expect=HELD, to=QUEUED, now=NOW)  # it ended
    await store.gate_move(dep.id, expect=QUEUED, to=HELD, now=NOW)
    await store.gate_move(dep.id, expect=HELD, to=DeploymentStatus.SKIPPED, now=NOW, error="red")
    assert recorded == ["queued", "triggering", "held", "queued", "held", "skipped"]
