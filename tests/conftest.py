"""Shared fixtures: a task-leak check for every async test, real stores, settings builders."""

from __future__ import annotations

import asyncio
import inspect
import io
import logging
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import structlog

from relay.logs import configure_logging
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


# -- PostgreSQL: a fresh database per test, on the server CI starts ---------------------------

POSTGRES_DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
_postgres_down: list[str] = []  # remembered, so that a missing server costs one timeout


def _postgres_required() -> bool:
    """In CI, or when a server is named explicitly, a missing PostgreSQL is a failure."""
    return bool(os.environ.get("RELAY_TEST_POSTGRES_URL")) or \
        os.environ.get("CI", "").lower() in ("true", "1")


@pytest.fixture
async def postgres_databases() -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """A factory of new, empty databases on the test PostgreSQL server, dropped afterwards.

    The server is RELAY_TEST_POSTGRES_URL, else a local default; without one the calling test
    is skipped, unless CI=true or RELAY_TEST_POSTGRES_URL is set: then it fails.
    """
    import asyncpg

    from relay.store.postgres import mask_url

    admin_url = os.environ.get("RELAY_TEST_POSTGRES_URL") or POSTGRES_DEFAULT_URL
    created: list[str] = []

    async def create() -> str:
        if _postgres_down:
            _postgres_unavailable(mask_url(admin_url), _postgres_down[0])
        try:
            admin = await _connect_admin(admin_url)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            _postgres_down.append(f"{type(exc).__name__}: {exc}")
            _postgres_unavailable(mask_url(admin_url), _postgres_down[0])
        name = f"relay_test_{os.getpid()}_{secrets.token_hex(4)}"
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
            created.append(name)
        finally:
            await admin.close()
        return urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))

    yield create
    if created:
        admin = await _connect_admin(admin_url)
        try:
            for name in created:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
async def postgres_url(postgres_databases: Callable[[], Awaitable[str]]) -> str:
    """The URL of a new, empty database on the test PostgreSQL server (see above)."""
    return await postgres_databases()


async def _connect_admin(url: str) -> Any:
    """Connect to the server's named database, or to `postgres` when that one does not exist."""
    import asyncpg

    try:
        return await asyncpg.connect(url, timeout=5)
    except asyncpg.InvalidCatalogNameError:
        fallback = urlunsplit(urlsplit(url)._replace(path="/postgres"))
        return await asyncpg.connect(fallback, timeout=5)


def _postgres_unavailable(url: str, error: str) -> None:
    message = f"PostgreSQL at {url} does not answer ({error})"
    if _postgres_required():
        pytest.fail(f"{message}; CI=true or RELAY_TEST_POSTGRES_URL is set, so PostgreSQL "
                    "tests must run (.ci/run starts the server)", pytrace=False)
    pytest.skip(f"{message}; set RELAY_TEST_POSTGRES_URL to run the PostgreSQL tests")


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """configure_logging(json) into a buffer (the lines relay and the libraries write); the
    previous logging setup restored after."""
    saved_config = structlog.get_config()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("aiohttp.access").level)
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    try:
        yield out
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("aiohttp.access").setLevel(saved[2])
        structlog.configure(**saved_config)
