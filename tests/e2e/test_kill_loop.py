"""The kill -9 loop (bench/killloop.py), short: SIGKILL `relay serve` during ingest, while a
PUT is held at the cluster API, and while following; on SQLite and on PostgreSQL, nothing
acknowledged is lost, no version is triggered twice, every cluster ends on the newest commit.

The rounds are drawn from a fixed seed; every wait in them is bounded (relay's readiness, the
senders' redelivery, the settling of every deployment), none is a timed assertion.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bench.killloop import (
    KILL_POINTS,
    KillPoint,
    Observed,
    RoundResult,
    judge,
    plan_round,
    pushes,
    run_loop,
)

SEED = 16
ROUNDS = 3  # one per kill point
PER_ROUTE = 4


def _explain(results: list[RoundResult]) -> str:
    lines = []
    for r in results:
        lines.append(f"{r.store} round {r.plan.number} ({r.plan.point}, "
                     f"{'hit' if r.hit else 'missed'}): {r.verdict}")
        if not r.verdict.ok:
            lines.extend(r.log.read_text().splitlines()[-40:])
    return "\n".join(lines)


def _check(results: list[RoundResult]) -> None:
    assert [r.plan.point for r in results] == list(KILL_POINTS)
    assert all(r.verdict.ok for r in results), _explain(results)
    # every delivery of the stream was acknowledged in the end (sent again after a kill)
    assert [r.acknowledged for r in results] == [PER_ROUTE * 3] * ROUNDS, _explain(results)


@pytest.mark.slow
async def test_kill_loop_on_sqlite(tmp_path: Path) -> None:
    async def new_store(_number: int, directory: Path) -> str:
        return f"sqlite:///{directory / 'relay.db'}"

    results = await run_loop("sqlite", new_store, rounds=ROUNDS, seed=SEED,
                             pushes_per_route=PER_ROUTE, work=tmp_path)
    _check(results)


@pytest.mark.slow
async def test_kill_loop_on_postgres(
    tmp_path: Path, postgres_databases: Callable[[], Awaitable[str]],
) -> None:
    async def new_store(_number: int, _directory: Path) -> str:
        return await postgres_databases()

    results = await run_loop("postgresql", new_store, rounds=ROUNDS, seed=SEED,
                             pushes_per_route=PER_ROUTE, work=tmp_path)
    _check(results)


# -- the loop's own rules (pure): a round is drawn from its seed, and the checks can fail ------


def test_rounds_are_drawn_from_the_seed_and_take_the_kill_points_in_turn() -> None:
    plans = [plan_round(n, SEED, pushes_per_route=PER_ROUTE) for n in range(6)]
    assert plans == [plan_round(n, SEED, pushes_per_route=PER_ROUTE) for n in range(6)]
    assert [p.point for p in plans] == [*KILL_POINTS, *KILL_POINTS]
    assert [p.put_lands for p in plans if p.point is KillPoint.HELD_PUT] == [True, False]
    assert plans != [plan_round(n, SEED + 1, pushes_per_route=PER_ROUTE) for n in range(6)]
    stream = pushes(plans[0])
    assert len({p.commit for p in stream}) == len({p.delivery for p in stream}) == 12


def _seen(**changes: object) -> Observed:
    base: dict[str, object] = {
        "acknowledged": {"github-a": 202, "github-b": 200},
        "stored": frozenset({"github-a", "github-b"}),
        "with_deployment": frozenset({"github-a", "github-b"}),
        "puts": [(1, "v1"), (1, "v2"), (2, "w1")],
        "clusters": {1: ("v2", "create_succ"), 2: ("w1", "create_succ")},
        "newest": {1: "v2", 2: "w1"},
        "unacknowledged": 0,
    }
    return Observed(**{**base, **changes})  # type: ignore[arg-type]


def test_judge_passes_a_clean_round() -> None:
    assert judge(_seen()).ok


def test_judge_finds_a_lost_delivery_a_second_trigger_and_a_stale_cluster() -> None:
    assert judge(_seen(stored=frozenset({"github-a"}))).lost == ("github-b",)
    assert judge(_seen(with_deployment=frozenset({"github-b"}))).lost == ("github-a",)
    assert judge(_seen(puts=[(1, "v1"), (1, "v2"), (1, "v2"), (2, "w1")])).duplicates == (
        (1, "v2", 2),)
    stale = judge(_seen(clusters={1: ("v1", "create_succ"), 2: ("w1", "updating")}))
    assert stale.wrong_version == ((1, "v1", "v2"), (2, "w1", "w1"))
    assert not judge(_seen(unacknowledged=1)).ok
