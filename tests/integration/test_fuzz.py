"""A short fuzz run in the normal suite: 5,000 mutated deliveries, none answered 5xx.

The generator and the runner are bench/fuzz.py's (`python -m bench.fuzz --count N` runs a
longer one). Deterministic (seed 16) and bounded in time: the run stops at 5,000 deliveries
or after 120 s, whichever comes first; either way every answer must be below 500.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from structlog.testing import capture_logs

from bench.fuzz import run

COUNT = 5_000
BUDGET_S = 120.0


async def test_5000_mutated_deliveries_on_sqlite_get_no_5xx(tmp_path: Path) -> None:
    with capture_logs():
        figures = await run(f"sqlite:///{tmp_path / 'relay.db'}", count=COUNT, seed=16,
                            budget_s=BUDGET_S)
    print(figures.summary())
    assert figures.server_errors == []
    # The run reached every layer: stored pushes, refusals of shape, signature and media type.
    assert {200, 202, 400, 401, 415} <= set(figures.statuses)


async def test_500_mutated_deliveries_on_postgres_get_no_5xx(
    postgres_databases: Callable[[], Awaitable[str]],
) -> None:
    url = await postgres_databases()
    with capture_logs():
        figures = await run(url, count=500, seed=17, budget_s=BUDGET_S)
    print(figures.summary())
    assert figures.server_errors == []
    assert {202, 400} <= set(figures.statuses)
