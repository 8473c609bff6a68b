"""Ordering findings of issue 11, end to end: force-push rollbacks and future-dated commits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from relay.deployment import DeploymentStatus
from tests.harness import Factory
from tests.payloads import sha


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_a_force_push_rollback_is_deployed_not_skipped(harness: Factory) -> None:
    h = await harness()
    a, b = sha("rollback-A"), sha("rollback-B")
    [first] = await h.push(before=sha("root"), after=a, timestamp="2026-01-01T10:00:00Z")
    assert (await h.final(first)).status is DeploymentStatus.SUCCEEDED
    [second] = await h.push(before=a, after=b, timestamp="2026-01-01T11:00:00Z")
    assert (await h.final(second)).status is DeploymentStatus.SUCCEEDED
    # git reset --hard A; git push --force: before = B, after = A, no new commits.
    [rollback] = await h.push(before=b, after=a, forced=True, commits=[],
                              timestamp="2026-01-01T10:00:00Z")
    final = await h.final(rollback)
    assert final.status is DeploymentStatus.SUCCEEDED, final.error
    assert final.forced
    assert (await h.api.get(10702)).version == a


async def test_a_future_dated_commit_does_not_block_the_branch(harness: Factory) -> None:
    h = await harness()
    now = datetime.now(UTC)
    a, b, c = sha("future-A"), sha("future-B"), sha("future-C")
    [first] = await h.push(before=sha("root"), after=a, timestamp=stamp(now + timedelta(days=2)))
    assert (await h.final(first)).status is DeploymentStatus.SUCCEEDED
    [second] = await h.push(before=a, after=b, timestamp=stamp(now))
    final = await h.final(second)
    assert final.status is DeploymentStatus.SUCCEEDED, final.error
    # A later push not chained to what runs is judged by commit times, and A ranks nothing.
    [third] = await h.push(before=sha("elsewhere"), after=c, timestamp=stamp(now))
    final = await h.final(third)
    assert final.status is DeploymentStatus.SUCCEEDED, final.error
    assert (await h.api.get(10702)).version == c
