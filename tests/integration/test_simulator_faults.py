"""Fault injection: the spec grammar, the seeded fault set, and each fault kind over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

import relay.simulator
from relay.simulator import (
    GRAMMAR,
    SIM_FAULTS,
    SIM_OPS,
    SIM_STATE,
    Fault,
    FaultKind,
    Faults,
    create_simulator_app,
    parse_fault,
)

TOKEN = "sim-test-token"
AUTH = {"Authorization": f"Token {TOKEN}"}
SHA = "c" * 40


@contextlib.asynccontextmanager
async def running(
    *specs: str, seed: int = 1, **options: Any
) -> AsyncIterator[TestClient[Any, Any]]:
    """Run a simulator with these faults; on exit, check that no task outlives it."""
    app = create_simulator_app(token=TOKEN, step_s=0.01, faults=Faults(specs, seed=seed),
                               **options)
    async with TestClient(TestServer(app)) as client:
        yield client
    assert app[SIM_OPS].running == 0
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def status_of(client: TestClient[Any, Any], method: str = "GET",
                    path: str = "/api/v1/apps/10702", **kwargs: Any) -> int:
    response = await client.request(method, path, headers=AUTH, **kwargs)
    await response.read()
    return response.status


# -- grammar ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "expected"), [
    ("latency:apps.get:1.5", Fault(FaultKind.LATENCY, "apps.get", seconds=1.5)),
    ("error:apps.get:503:count=2", Fault(FaultKind.ERROR, "apps.get", status=503, count=2)),
    ("error:apps.update:500:rate=0.5", Fault(FaultKind.ERROR, "apps.update", status=500,
                                             rate=0.5)),
    ("error:*:429:retry-after=3", Fault(FaultKind.ERROR, "*", status=429, retry_after=3)),
    ("reset:apps.get:count=1", Fault(FaultKind.RESET, "apps.get", count=1)),
    ("html:watch", Fault(FaultKind.HTML, "watch", status=502)),
    ("html:images:504:count=1:rate=1", Fault(FaultKind.HTML, "images", status=504, count=1,
                                             rate=1.0)),
    ("truncated:apps.list", Fault(FaultKind.TRUNCATED, "apps.list")),
    ("watch-immediate", Fault(FaultKind.WATCH_IMMEDIATE, "watch")),
    ("watch-immediate:count=3", Fault(FaultKind.WATCH_IMMEDIATE, "watch", count=3)),
    ("fail-version:" + SHA, Fault(FaultKind.FAIL_VERSION, "*", version=SHA)),
])
def test_parse_fault_reads_each_kind(spec: str, expected: Fault) -> None:
    fault = parse_fault(spec)
    assert fault == Fault(**{**_fields(expected), "spec": spec})


def _fields(fault: Fault) -> dict[str, Any]:
    return {name: getattr(fault, name) for name in Fault.__slots__}


@pytest.mark.parametrize(("spec", "names"), [
    ("explode:apps.get", "unknown kind 'explode'"),
    ("error:apps.gett:503", "unknown operation 'apps.gett'"),
    ("error:apps.get", "missing STATUS"),
    ("latency:watch", "missing SECONDS"),
    ("error:apps.get:200", "status '200'"),
    ("error:apps.get:abc", "status 'abc'"),
    ("error:apps.get:503:count=0", "count '0'"),
    ("error:apps.get:503:count=x", "count 'x'"),
    ("error:apps.get:503:rate=2", "rate=2"),
    ("error:apps.get:503:rate=abc", "rate 'abc'"),
    ("error:apps.get:503:colour=red", "unknown option 'colour'"),
    ("error:apps.get:503:extra", "unexpected argument 'extra'"),
    ("reset:apps.get:retry-after=1", "retry-after applies to error faults only"),
    ("latency:apps.get:soon", "seconds 'soon'"),
    ("latency:apps.get:-1", "seconds '-1'"),
    ("latency", "missing operation"),
    ("watch-immediate:apps.get", "unexpected argument 'apps.get'"),
    ("fail-version", "missing version"),
])
def test_parse_fault_names_the_bad_part(spec: str, names: str) -> None:
    with pytest.raises(ValueError, match="fault") as info:
        parse_fault(spec)
    assert names in str(info.value) and repr(spec) in str(info.value)


def test_grammar_is_in_the_package_docstring() -> None:
    assert relay.simulator.__doc__ is not None and GRAMMAR in relay.simulator.__doc__


def test_counts_are_consumed_and_clear_removes_faults() -> None:
    faults = Faults(["error:apps.get:503:count=2", "latency:*:0.5"])
    plans = [faults.plan("apps.get") for _ in range(3)]
    assert [p.answer is not None for p in plans] == [True, True, False]
    assert all(p.delay_s == 0.5 for p in plans)
    assert faults.plan("images").answer is None
    assert [f.kind for f in faults.active] == [FaultKind.LATENCY]
    faults.clear()
    assert faults.plan("apps.get").delay_s == 0 and faults.active == ()


def test_rates_are_reproducible_with_a_seed() -> None:
    def run(seed: int) -> list[bool]:
        faults = Faults(["error:apps.get:500:rate=0.5"], seed=seed)
        return [faults.plan("apps.get").answer is not None for _ in range(40)]

    assert run(7) == run(7)
    assert 5 < sum(run(7)) < 35 and run(7) != run(8)


def test_the_first_answering_fault_wins_and_others_keep_their_count() -> None:
    faults = Faults(["reset:apps.get:count=1", "error:apps.get:503:count=1"])
    assert faults.plan("apps.get").answer == parse_fault("reset:apps.get:count=1")
    assert faults.plan("apps.get").answer == parse_fault("error:apps.get:503:count=1")
    assert faults.plan("apps.get").answer is None


# -- each kind over HTTP ------------------------------------------------------------------------


async def test_error_with_a_count_then_recovers() -> None:
    async with running("error:apps.get:503:count=2") as client:
        response = await client.get("/api/v1/apps/10702", headers=AUTH)
        assert response.status == 503
        assert await response.json() == {"code": 5030,
                                          "msg": "injected fault error:apps.get:503:count=2"}
        assert [await status_of(client) for _ in range(2)] == [503, 200]
        assert await status_of(client, path="/api/v1/apps") == 200
        assert client.app[SIM_STATE].requests["apps.get"] == 3


async def test_error_429_carries_retry_after_and_star_matches_any() -> None:
    async with running("error:*:429:retry-after=2:count=2") as client:
        response = await client.get("/api/v1/apps/images", headers=AUTH)
        assert (response.status, response.headers["Retry-After"]) == (429, "2")
        assert await status_of(client, "DELETE", "/api/v1/apps/10800") == 429
        assert 10800 in client.app[SIM_STATE].clusters  # the handler did not run
        assert await status_of(client, "DELETE", "/api/v1/apps/10800") == 200


async def test_error_with_a_rate_is_seeded() -> None:
    async def statuses(seed: int) -> list[int]:
        async with running("error:apps.update:500:rate=0.5", seed=seed) as client:
            return [await status_of(client, "PUT", json={"desc": "d"}) for _ in range(12)]

    first = await statuses(3)
    assert first == await statuses(3) and {500, 200} == set(first)


async def test_latency_delays_the_answer() -> None:
    async with running("latency:apps.list:0.2") as client:
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await status_of(client, path="/api/v1/apps") == 200
        assert loop.time() - started >= 0.2
        started = loop.time()
        assert await status_of(client) == 200
        assert loop.time() - started < 0.2


async def test_reset_closes_the_connection_without_an_answer() -> None:
    async with running("reset:apps.get:count=1") as client:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await client.get("/api/v1/apps/10702", headers=AUTH)
        assert await status_of(client) == 200


async def test_html_error_page_is_not_json() -> None:
    async with running("html:apps.get:count=1", "html:images:504") as client:
        response = await client.get("/api/v1/apps/10702", headers=AUTH)
        assert (response.status, response.content_type) == (502, "text/html")
        assert "<h1>502 Bad Gateway</h1>" in await response.text()
        assert await status_of(client, path="/api/v1/apps/images") == 504


async def test_truncated_body_is_malformed_json() -> None:
    async with running("truncated:apps.get:count=1") as client:
        response = await client.get("/api/v1/apps/10702", headers=AUTH)
        assert (response.status, response.content_type) == (200, "application/json")
        with pytest.raises(json.JSONDecodeError):
            json.loads(await response.read())
        assert (await (await client.get("/api/v1/apps/10702", headers=AUTH)).json())["id"] == 10702


async def test_watch_immediate_answers_without_a_change() -> None:
    async with running("watch-immediate:count=1", watch_timeout_s=60) as client:
        response = await asyncio.wait_for(client.get("/api/v1/watch/apps/10800", headers=AUTH), 2)
        assert len((await response.json())["containers"]) == 1
        # used up: the next watch waits again, for its own (short) timeout
        loop = asyncio.get_running_loop()
        started = loop.time()
        response = await client.get("/api/v1/watch/apps/10800?timeout=0.1", headers=AUTH)
        assert response.status == 200 and loop.time() - started >= 0.1


async def test_fail_version_ends_update_fail_with_old_containers_left() -> None:
    async with running("fail-version:" + SHA) as client:
        state = client.app[SIM_STATE]
        old = {c.container_id for c in state.clusters[10703].containers}
        assert await status_of(client, "PUT", "/api/v1/apps/10703",
                               json={"version_control": {"version": SHA}}) == 200

        async def failed() -> None:
            while state.clusters[10703].status != "update_fail":
                await state.change_event(10703).wait()

        await asyncio.wait_for(failed(), 2)
        now = {c.container_id for c in state.clusters[10703].containers}
        assert len(now) == 3 and 1 <= len(now & old) < 3
        assert state.clusters[10703].version == SHA and state.versions(10703) == [SHA]
        # another version rolls out fine
        assert await status_of(client, "PUT", "/api/v1/apps/10703",
                               json={"version_control": {"version": "d" * 40}}) == 200
        while state.clusters[10703].status != "create_succ":
            await asyncio.wait_for(state.change_event(10703).wait(), 2)
        assert not {c.container_id for c in state.clusters[10703].containers} & old


async def test_faults_can_be_added_and_cleared_at_run_time() -> None:
    async with running() as client:
        faults = client.app[SIM_FAULTS]
        faults.add(parse_fault("error:hook:500"))
        url = "/api/v1/hooks/app/" + client.app[SIM_STATE].clusters[10800].hook_key
        assert (await client.post(url, data=b"{}")).status == 500
        assert client.app[SIM_STATE].hook_posts == []
        faults.clear()
        assert (await client.post(url, data=b"{}")).status == 200
        assert len(client.app[SIM_STATE].hook_posts) == 1
        assert [f.spec for f in faults.fired] == ["error:hook:500"]
