"""Automatic rollback and quarantine end to end (docs/gates.md): relay, the simulator with a
fault on one version, a real SQLite store."""

from __future__ import annotations

from datetime import UTC, datetime

from relay.deployment import DeploymentKind, DeploymentStatus
from relay.gates.rollback import QuarantineEntry
from tests.factories import ADMIN_HEADERS
from tests.harness import Factory, Harness
from tests.payloads import sha

ROLLBACK = {"on_failure": "rollback"}
NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
FAILED, SUCCEEDED, SKIPPED = (DeploymentStatus.FAILED, DeploymentStatus.SUCCEEDED,
                              DeploymentStatus.SKIPPED)


async def rolled_back_by(h: Harness, dep_id: int) -> int:
    """The rollback queued after `dep_id` failed (recorded before its end is announced)."""
    dep = await h.store.get_deployment(dep_id)
    assert dep is not None and dep.rolled_back_by is not None
    return dep.rolled_back_by


def versions(h: Harness) -> list[str]:
    return [p["version_control"]["version"] for p in h.puts(10702)]


async def test_a_failed_push_is_rolled_back_quarantined_and_newer_pushes_deploy(
        harness: Factory) -> None:
    h = await harness(route_changes=ROLLBACK)
    good, bad, newer = sha("good"), sha("bad"), sha("newer")
    [first] = await h.push(after=good)
    assert (await h.final(first)).status is SUCCEEDED
    h.fault(f"fail-version:{bad}")
    [broken] = await h.push(after=bad)
    failed = await h.final(broken)
    assert failed.status is FAILED
    rollback = await h.final(await rolled_back_by(h, broken))
    assert rollback.status is SUCCEEDED, rollback.error
    assert rollback.kind is DeploymentKind.ROLLBACK and rollback.rollback_of == broken
    assert rollback.version == good
    assert (await h.api.get(10702)).version == good  # the cluster reports the good version
    shown = await (await h.client.get(f"/api/deployments/{broken}",
                                      headers=ADMIN_HEADERS)).json()
    assert shown["rolled_back_by"] == rollback.id and shown["kind"] == "push"
    quarantine = await (await h.client.get("/api/quarantine", headers=ADMIN_HEADERS)).json()
    assert [(q["cluster"], q["version"], q["deployment_id"])
            for q in quarantine["quarantine"]] == [(10702, bad, broken)]
    # A redelivery of the failed commit is skipped: quarantined.
    again = await h.client.post(f"/api/deliveries/{failed.delivery_id}/redeliver",
                                headers=ADMIN_HEADERS)
    assert again.status == 202, await again.text()
    [redelivered] = (await again.json())["deployments"]
    assert redelivered["kind"] == "redelivery"
    skipped = await h.final(redelivered["id"])
    assert skipped.status is SKIPPED
    assert skipped.error == f"quarantined after deployment {broken} failed"
    # A newer commit deploys as usual.
    [later] = await h.push(after=newer)
    assert (await h.final(later)).status is SUCCEEDED
    assert versions(h) == [good, bad, good, newer]
    assert h.registry.get_sample_value(
        "relay_rollbacks_total", {"cluster": "10702", "outcome": "succeeded"}) == 1


async def test_a_manual_deploy_lifts_a_quarantine_and_clear_lifts_it_too(
        harness: Factory) -> None:
    h = await harness(route_changes=ROLLBACK)
    good, bad = sha("good-4"), sha("bad-4")
    assert (await h.final((await h.push(after=good))[0])).status is SUCCEEDED
    h.fault(f"fail-version:{bad}")
    [broken] = await h.push(after=bad)
    await h.final(broken)
    await h.final(await rolled_back_by(h, broken))
    assert [e.version for e in await h.store.quarantine()] == [bad]
    gone = await h.client.delete(f"/api/quarantine/10702/{bad}", headers=ADMIN_HEADERS)
    assert gone.status == 200
    again = await h.client.delete(f"/api/quarantine/10702/{bad}", headers=ADMIN_HEADERS)
    assert again.status == 404
    await h.store.add_quarantine(QuarantineEntry(10702, bad, broken, NOW))  # once more
    manual = await h.client.post("/api/deployments", headers=ADMIN_HEADERS,
                                 json={"cluster": 10702, "version": bad})
    assert manual.status == 202
    ran = await h.final((await manual.json())["id"])
    assert ran.status is FAILED  # it ran (the fault is still there): not skipped
    assert bad not in [e.version for e in await h.store.quarantine()]


async def test_a_failed_rollback_pauses_the_cluster(harness: Factory) -> None:
    h = await harness(route_changes=ROLLBACK)
    good, bad = sha("good-2"), sha("bad-2")
    [first] = await h.push(after=good)
    assert (await h.final(first)).status is SUCCEEDED
    h.fault(f"fail-version:{bad}")
    h.fault(f"fail-version:{good}")  # the good version now fails too
    [broken] = await h.push(after=bad)
    assert (await h.final(broken)).status is FAILED
    rollback = await h.final(await rolled_back_by(h, broken))
    assert rollback.status is FAILED
    holds = await (await h.client.get("/api/holds", headers=ADMIN_HEADERS)).json()
    assert [(a["cluster"], a["kind"], a["reason"]) for a in holds["active"]] == [
        (10702, "pause", "rollback failed")]
    assert h.registry.get_sample_value("relay_cluster_held", {"cluster": "10702"}) == 1
    assert h.registry.get_sample_value(
        "relay_rollbacks_total", {"cluster": "10702", "outcome": "failed"}) == 1
    # The failed rollback itself is not rolled back.
    again = await h.store.get_deployment(rollback.id)
    assert again is not None and again.rolled_back_by is None


async def test_without_on_failure_nothing_is_rolled_back(harness: Factory) -> None:
    h = await harness()
    bad = sha("bad-3")
    h.fault(f"fail-version:{bad}")
    [broken] = await h.push(after=bad)
    assert (await h.final(broken)).status is FAILED
    [later] = await h.push(after=sha("later-3"))  # ends after any consequence of the failure
    await h.final(later)
    stored = await h.store.get_deployment(broken)
    assert stored is not None and stored.rolled_back_by is None
    assert await h.store.quarantine() == ()
