"""`relay rollback`'s choice of version (relay.cli.rollback.plan_rollback)."""

from __future__ import annotations

from typing import Any

import pytest

from relay.cli.rollback import NothingToRollBackTo, plan_rollback


def dep(id: int, version: str, status: str, triggered: bool = True) -> dict[str, Any]:
    return {"id": id, "version": version, "status": status,
            "triggered_at": "2026-11-29T10:00:00Z" if triggered else None}


def test_the_newest_succeeded_before_the_current_one() -> None:
    plan = plan_rollback([dep(5, "c", "succeeded"), dep(4, "b", "succeeded"),
                          dep(3, "a", "succeeded")])
    assert (plan.current["id"], plan.target["id"]) == (5, 4)


def test_queued_and_skipped_ones_are_not_current() -> None:
    plan = plan_rollback([dep(6, "d", "queued", False), dep(5, "c", "skipped", False),
                          dep(4, "b", "succeeded"), dep(3, "a", "succeeded")])
    assert (plan.current["id"], plan.target["version"]) == (4, "a")


def test_after_a_failed_rollout_the_last_good_version() -> None:
    plan = plan_rollback([dep(5, "bad", "failed"), dep(4, "good", "succeeded")])
    assert plan.target["version"] == "good"


def test_the_same_version_again_is_no_rollback() -> None:
    plan = plan_rollback([dep(5, "b", "succeeded"), dep(4, "b", "succeeded"),
                          dep(3, "a", "timed_out"), dep(2, "a", "succeeded")])
    assert plan.target["id"] == 2


@pytest.mark.parametrize("deps", [[], [dep(1, "a", "queued", False)],
                                  [dep(2, "a", "succeeded"), dep(1, "b", "failed")]])
def test_nothing_to_roll_back_to(deps: list[dict[str, Any]]) -> None:
    with pytest.raises(NothingToRollBackTo):
        plan_rollback(deps)
