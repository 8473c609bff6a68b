"""Shared fixtures: a task-leak check for every async test, real stores, settings builders."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relay.store.sqlite import SQLiteStore
from tests.harness import harness  # noqa: F401 - a fixture, shared by the end-to-end tests

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every coroutine test gets the leak check, set up first so it tears down last.
    for item in items:
        func = getattr(item, "function", None)
        if func is not None and inspect.iscoroutinefunction(func):
            fixturenames = getattr(item, "fixturenames", None)
            if fixturenames is not None and "_no_leaked_tasks" not in fixturenames:
                fixturenames.insert(0, "_no_leaked_tasks")


@pytest.fixture
async def _no_leaked_tasks() -> AsyncIterator[None]:
    before = set(asyncio.all_tasks())
    yield
    current = asyncio.current_task()
    for _ in range(3):  # let just-cancelled tasks finish unwinding
        await asyncio.sleep(0)
    leaked = [
        t for t in asyncio.all_tasks() if t is not current and t not in before and not t.done()
    ]
    for task in leaked:
        task.cancel()
    assert not leaked, f"test leaked asyncio tasks: {leaked}"


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = await SQLiteStore.open(tmp_path / "relay.db")
    try:
        yield store
    finally:
        await store.close()
