"""The rollout verdict of CONTRACT section 5, without I/O."""

from __future__ import annotations

import pytest

from relay.rollout import Judge, Observation, Verdict, is_failure_status

SHA = "c" * 40


def obs(status: str = "create_succ", replicas: int = 2, ids: tuple[str, ...] = ("a", "b"),
        version: str | None = "old") -> Observation:
    return Observation(status=status, replicas=replicas, container_ids=ids, version=version)


BEFORE = obs()


def test_all_containers_replaced_with_version_read_back_succeeds() -> None:
    judge = Judge(BEFORE, SHA)
    assert judge.verdict(obs(ids=("c", "d"), version=SHA), fail_armed=True) is Verdict.SUCCEEDED


@pytest.mark.parametrize(
    "now",
    [
        obs(ids=("a", "d"), version=SHA),  # one old container left
        obs(ids=("c",), version=SHA),  # fewer containers than replicas
        obs(ids=("c", "d"), version="old"),  # version not read back yet
        obs(status="updating", ids=("a", "b"), version=SHA),  # nothing replaced yet
    ],
)
def test_incomplete_rollouts_are_still_going(now: Observation) -> None:
    assert Judge(BEFORE, SHA).verdict(now, fail_armed=True) is Verdict.GOING


def test_hook_action_needs_no_version() -> None:
    judge = Judge(BEFORE, None)
    assert judge.verdict(obs(ids=("c", "d"), version="old"), fail_armed=True) is Verdict.SUCCEEDED


def test_fail_status_fails_the_rollout() -> None:
    judge = Judge(BEFORE, SHA)
    armed = judge.initial_fail_armed()
    now = obs(status="update_fail", ids=("a", "d"))
    assert judge.verdict(now, fail_armed=judge.rearm(armed, now)) is Verdict.FAILED


def test_fail_left_over_from_before_counts_only_after_another_status() -> None:
    judge = Judge(obs(status="update_fail"), SHA)
    armed = judge.initial_fail_armed()
    assert armed is False
    stale = obs(status="update_fail")
    armed = judge.rearm(armed, stale)
    assert judge.verdict(stale, fail_armed=armed) is Verdict.GOING
    moving = obs(status="updating", ids=("a", "x"))
    armed = judge.rearm(armed, moving)
    assert judge.verdict(moving, fail_armed=armed) is Verdict.GOING
    failed = obs(status="update_fail", ids=("a", "x"))
    assert judge.verdict(failed, fail_armed=judge.rearm(armed, failed)) is Verdict.FAILED


def test_fail_left_over_does_not_block_success() -> None:
    judge = Judge(obs(status="update_fail"), SHA)
    done = obs(status="update_fail", ids=("c", "d"), version=SHA)
    assert judge.verdict(done, fail_armed=False) is Verdict.SUCCEEDED


def test_zero_replicas_succeeds_once_version_reads_back() -> None:
    judge = Judge(obs(replicas=0, ids=()), SHA)
    assert judge.verdict(obs(replicas=0, ids=(), version="old"), fail_armed=True) is Verdict.GOING
    assert judge.verdict(obs(replicas=0, ids=(), version=SHA), fail_armed=True) is Verdict.SUCCEEDED


def test_unknown_statuses_are_in_progress() -> None:
    assert not is_failure_status("rolling-back")
    assert not is_failure_status("restarting")
    assert is_failure_status("create_fail")
    now = obs(status="some_new_state", ids=("a", "x"))
    assert Judge(BEFORE, SHA).verdict(now, fail_armed=True) is Verdict.GOING


def test_progress_counts_replaced_containers() -> None:
    p = Judge(BEFORE, SHA).progress(obs(ids=("a", "x")))
    assert (p.replaced, p.of, p.running, p.replicas) == (1, 2, 2, 2)


def test_shows_effect() -> None:
    assert Judge(BEFORE, SHA).shows_effect(obs(version=SHA))
    assert not Judge(BEFORE, SHA).shows_effect(obs())
    assert Judge(BEFORE, None).shows_effect(obs(status="updating"))
    assert not Judge(BEFORE, None).shows_effect(obs())


def test_snapshot_round_trips_through_json() -> None:
    assert Observation.from_json(BEFORE.to_json()) == BEFORE


@pytest.mark.parametrize(("now", "verdict"), [
    (obs(status="updating", ids=("a", "b"), version="third"), Verdict.FAILED),
    (obs(ids=("c", "d"), version="third"), Verdict.FAILED),  # even once replaced
    (obs(status="updating", ids=("a", "b"), version="old"), Verdict.GOING),
    (obs(status="updating", ids=("a", "b"), version=SHA), Verdict.GOING),
    (obs(status="updating", ids=("a", "b"), version=None), Verdict.GOING),
])
def test_a_third_version_set_outside_relay_fails_the_rollout(now: Observation,
                                                             verdict: Verdict) -> None:
    judge = Judge(BEFORE, SHA)
    assert judge.verdict(now, fail_armed=True) is verdict
    if verdict is Verdict.FAILED:
        assert judge.failure(now) == "version changed to third outside relay"


def test_a_hook_rollout_knows_no_new_version_so_no_third_one() -> None:
    judge = Judge(BEFORE, None)
    assert judge.verdict(obs(status="updating", version="third"),
                         fail_armed=True) is Verdict.GOING
