"""The SQLite store knows when it cannot write (issue 16, points 13-14)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from relay.deployment import DeploymentStatus
from relay.store import StoreError
from relay.store.sqlite import SQLiteStore
from tests.factories import ADMIN_HEADERS
from tests.harness import Factory
from tests.payloads import github_headers, github_push, sha


async def test_a_removed_database_directory_is_503_until_it_is_back(
        harness: Factory, tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = await SQLiteStore.open(data / "relay.db")
    try:
        h = await harness(store=store)
        [first] = await h.push(after=sha("before-removal"))
        assert (await h.final(first)).status is DeploymentStatus.SUCCEEDED
        assert (await h.client.get("/readyz")).status == 200

        data.rename(tmp_path / "away")  # the volume is gone: the path names nothing
        body = github_push(after=sha("while-away"))
        resp = await h.client.post("/hooks/github", data=body,
                                   headers=github_headers(body, delivery="while-away"))
        assert resp.status == 503, await resp.text()
        assert (await h.client.get("/readyz")).status == 503
        resp = await h.client.post("/api/deployments", headers=ADMIN_HEADERS,
                                   json={"cluster": 10702, "version": sha("by-hand")})
        assert resp.status == 503

        (tmp_path / "away").rename(data)  # back again
        assert (await h.client.get("/readyz")).status == 200
        [second] = await h.push(after=sha("after-return"))
        assert (await h.final(second)).status is DeploymentStatus.SUCCEEDED
    finally:
        await store.close()


async def test_a_replaced_database_file_is_reopened(tmp_path: Path) -> None:
    path = tmp_path / "relay.db"
    store = await SQLiteStore.open(path)
    other = await SQLiteStore.open(tmp_path / "copy.db")
    await other.close()
    try:
        await store.ready()
        shutil.move(tmp_path / "copy.db", path)  # the path now names another file
        await store.ready()  # reopened: the write lands in the file the path names
        assert await store.list_deployments() == ()
    finally:
        await store.close()


async def test_a_removed_database_file_fails_ping_and_writes(tmp_path: Path) -> None:
    path = tmp_path / "gone" / "relay.db"
    store = await SQLiteStore.open(path)
    try:
        shutil.rmtree(tmp_path / "gone")
        with pytest.raises(StoreError, match="gone"):
            await store.ping()
        with pytest.raises(StoreError, match="gone"):
            await store.ready()
        assert store.last_write_error is not None
    finally:
        await store.close()
