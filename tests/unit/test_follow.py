"""Following a rollout (relay/follow.py) with a fake clock and a scripted cluster API.

No server and no real waiting: the API answers from a script, one step per GET, and time
moves only when `follow` sleeps on the fake clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from relay.cluster.errors import BadResponse, ClusterApiError, NotFound, ServerError
from relay.cluster.models import Cluster, Container, VersionControl
from relay.follow import FollowSettings, Outcome, follow, read_cluster
from relay.rollout import Judge, Observation, Verdict
from tests.fakes import FakeClock

NEW = "n" * 40
OLD = "o" * 40
SETTINGS = FollowSettings(watch_timeout_s=30, request_timeout_s=5, min_poll_interval_s=1.0,
                          max_error_backoff_s=8.0)
BEFORE = Observation(status="create_succ", replicas=2, container_ids=("a", "b"), version=OLD)


def cluster(ids: Sequence[str] = ("a", "b"), *, status: str = "updating",
            version: str = NEW, replicas: int = 2) -> Cluster:
    return Cluster(id=7, status=status, replicas=replicas,
                   containers=tuple(Container(c) for c in ids),
                   version_control=VersionControl(version=version))


Step = Cluster | ClusterApiError


@dataclass
class ScriptedApi:
    """GET answers the next step of `script` (the last one repeats); watch answers after
    `watch_s` of fake time (at most its timeout), or raises the errors in `watch_errors`."""

    clock: FakeClock
    script: list[Step]
    watch_s: float = 0.0
    watch_errors: list[ClusterApiError] = field(default_factory=list)
    gets: int = 0
    watches: list[float | None] = field(default_factory=list)

    async def get(self, cluster_id: int, *, retries: Counter[str] | None = None) -> Cluster:
        step = self.script[min(self.gets, len(self.script) - 1)]
        self.gets += 1
        if isinstance(step, ClusterApiError):
            raise step
        return step

    async def watch(self, cluster_id: int, *, timeout_s: float | None = None,
                    retries: Counter[str] | None = None) -> tuple[Container, ...]:
        self.watches.append(timeout_s)
        if self.watch_errors:
            raise self.watch_errors.pop(0)
        held = self.watch_s if timeout_s is None else min(self.watch_s, timeout_s)
        await self.clock.sleep(held)  # a real watch answers at its timeout at the latest
        return ()


async def run(api: ScriptedApi, clock: FakeClock, *, timeout_s: float = 120.0,
              version: str | None = NEW) -> Outcome:
    return await follow(api, 7, Judge(BEFORE, version), clock=clock,
                        deadline=clock.monotonic() + timeout_s, settings=SETTINGS)


async def test_a_rollout_that_replaces_every_container_succeeds() -> None:
    clock = FakeClock()
    api = ScriptedApi(clock, [cluster(("a", "b")), cluster(("a", "c")), cluster(("c", "d"))],
                      watch_s=2.0)
    outcome = await run(api, clock)
    assert outcome.verdict is Verdict.SUCCEEDED
    assert api.gets == 3 and len(api.watches) == 2
    assert clock.offset == 4.0  # two watches of two fake seconds, no extra pause


async def test_a_watch_answering_at_once_is_paced_by_the_poll_interval() -> None:
    clock = FakeClock()
    steps: list[Step] = [cluster(("a", "b"))] * 3
    api = ScriptedApi(clock, [*steps, cluster(("c", "d"))])
    outcome = await run(api, clock)
    assert outcome.verdict is Verdict.SUCCEEDED
    assert clock.sleeps == [0.0, 1.0] * 3  # each instant watch, then the rest of 1 s


async def test_no_verdict_before_the_deadline_times_out_on_fake_time() -> None:
    clock = FakeClock()
    api = ScriptedApi(clock, [cluster(("a", "b"))], watch_s=30.0)
    outcome = await run(api, clock, timeout_s=100.0)
    assert outcome.verdict is None
    assert clock.offset == pytest.approx(100.0)
    assert api.watches[-1] == pytest.approx(10.0)  # the last watch is cut to the deadline


async def test_failing_reads_back_off_and_the_rollout_still_succeeds() -> None:
    clock = FakeClock()
    error = ServerError("apps.get", "boom", status=503)
    api = ScriptedApi(clock, [error, error, error, cluster(("c", "d"))])
    outcome = await run(api, clock)
    assert outcome.verdict is Verdict.SUCCEEDED
    assert outcome.api_errors == 3
    assert clock.sleeps == [2.0, 4.0, 8.0]  # doubling from the poll interval, capped at 8


async def test_a_failed_watch_is_retried_with_backoff() -> None:
    clock = FakeClock()
    api = ScriptedApi(clock, [cluster(("a", "b")), cluster(("c", "d"))],
                      watch_errors=[ServerError("watch", "boom", status=502)])
    outcome = await run(api, clock)
    assert outcome.verdict is Verdict.SUCCEEDED
    assert clock.sleeps == [2.0]


async def test_a_fail_status_after_the_trigger_fails_the_rollout() -> None:
    clock = FakeClock()
    api = ScriptedApi(clock, [cluster(("a", "b")), cluster(("a", "b"), status="update_fail")])
    outcome = await run(api, clock)
    assert outcome.verdict is Verdict.FAILED
    assert outcome.error == "cluster status update_fail"


async def test_a_third_version_fails_the_rollout_without_waiting_for_the_timeout() -> None:
    clock = FakeClock()
    api = ScriptedApi(clock, [cluster(("a", "b")), cluster(("a", "b"), version="t" * 40)],
                      watch_s=1.0)
    outcome = await run(api, clock, timeout_s=900.0)
    assert outcome.verdict is Verdict.FAILED
    assert outcome.error == f"version changed to {'t' * 40} outside relay"
    assert clock.offset == 1.0


async def test_a_cluster_that_disappears_fails_the_rollout() -> None:
    clock = FakeClock()
    api = ScriptedApi(clock, [NotFound("apps.get", "no such app", status=404)])
    outcome = await run(api, clock)
    assert outcome.verdict is Verdict.FAILED
    assert "no longer exists" in (outcome.error or "")


async def test_read_cluster_retries_a_malformed_answer_like_the_follow() -> None:
    clock = FakeClock()
    bad = BadResponse("apps.get", "invalid JSON at line 1 column 2", status=200)
    api = ScriptedApi(clock, [bad, cluster(("a", "b"))])
    found = await read_cluster(api, 7, clock=clock, deadline=60.0, settings=SETTINGS)
    assert found.id == 7 and clock.sleeps == [2.0]


async def test_read_cluster_gives_up_at_the_deadline_and_at_once_on_not_found() -> None:
    clock = FakeClock()
    bad = BadResponse("apps.get", "invalid JSON", status=200)
    with pytest.raises(BadResponse):
        await read_cluster(ScriptedApi(clock, [bad]), 7, clock=clock, deadline=10.0,
                           settings=SETTINGS)
    assert clock.offset == pytest.approx(10.0)
    gone = NotFound("apps.get", "no such app", status=404)
    with pytest.raises(NotFound):
        await read_cluster(ScriptedApi(clock, [gone]), 7, clock=clock, deadline=100.0,
                           settings=SETTINGS)
    assert clock.offset == pytest.approx(10.0)
