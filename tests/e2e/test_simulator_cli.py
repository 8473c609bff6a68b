"""`relay simulator` on the command line, state files, and mounting under a prefix."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from relay.cli import build_parser, main
from relay.simulator import GRAMMAR, SIM_OPS, SIM_STATE, create_simulator_app

TOKEN = "sim-test-token"
AUTH = {"Authorization": f"Token {TOKEN}"}


def no_tasks_left() -> bool:
    return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


# -- the command line ---------------------------------------------------------------------------


@pytest.mark.parametrize(("argv", "names"), [
    (["--fault", "error:apps.gett:503"], "unknown operation 'apps.gett'"),
    (["--fault", "latency:*:0.1", "--fault", "boom"], "unknown kind 'boom'"),
    (["--step-s", "-1"], "'-1' is not a number of seconds"),
    (["--port", "http"], "invalid int value"),
])
def test_bad_arguments_exit_2_naming_the_bad_part(capsys: pytest.CaptureFixture[str],
                                                  argv: list[str], names: str) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["simulator", *argv])
    assert info.value.code == 2 and names in capsys.readouterr().err


def test_help_documents_the_fault_grammar(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["simulator", "--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0 and GRAMMAR in out and "RELAY_API_TOKEN" in out


def test_parsed_options_reach_the_handler() -> None:
    args = build_parser().parse_args(["simulator", "--port", "0", "--fault", "reset:watch",
                                      "--fault", "latency:*:1", "--state", "s.json"])
    assert (args.port, args.host, args.state, args.step_s) == (0, "127.0.0.1", Path("s.json"),
                                                              0.2)
    assert [f.spec for f in args.fault] == ["reset:watch", "latency:*:1"]


def test_refuses_to_start_without_a_token(monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("RELAY_API_TOKEN", raising=False)
    assert main(["simulator", "--port", "0"]) == 2
    assert "RELAY_API_TOKEN is not set" in capsys.readouterr().err


def test_refuses_a_corrupt_state_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RELAY_API_TOKEN", TOKEN)
    state = tmp_path / "state.json"
    state.write_text("{nope")
    assert main(["simulator", "--port", "0", "--state", str(state)]) == 2
    err = capsys.readouterr().err
    assert str(state) in err and "cannot be loaded" in err and TOKEN not in err


@pytest.mark.slow
async def test_the_command_serves_logs_its_url_and_saves_on_sigterm(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    env = {**os.environ, "RELAY_API_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relay", "simulator", "--port", "0", "--state", str(state),
        "--fault", "error:apps.delete:500", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
        url = re.search(r"url=(http://127\.0\.0\.1:\d+)", line)
        assert url, line
        async with aiohttp.ClientSession(headers=AUTH) as session:
            async with session.get(url[1] + "/api/v1/apps") as response:
                assert (await response.json())["total"] == 3
            async with session.delete(url[1] + "/api/v1/apps/10702") as response:
                assert response.status == 500
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    output = line + (await proc.stdout.read()).decode()
    assert TOKEN not in output
    assert [c["id"] for c in json.loads(state.read_text())["clusters"]] == [10702, 10703, 10800]


# -- state files --------------------------------------------------------------------------------


async def test_state_round_trips_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sim" / "state.json"
    spec = {"name": "kept", "image_type": 1, "image_id": 3, "spec_id": 1, "replicas": 2,
            "version_control": {"version": "e" * 40, "password": "pw"}}
    app = create_simulator_app(token=TOKEN, step_s=0.01, state_path=path)
    async with TestClient(TestServer(app)) as client:
        assert path.exists()  # saved at startup
        created = await (await client.post("/api/v1/apps", json=spec, headers=AUTH)).json()
        await client.delete("/api/v1/apps/10703", headers=AUTH)
        state = app[SIM_STATE]
        while state.clusters[created["id"]].status != "create_succ":
            await asyncio.wait_for(state.change_event(created["id"]).wait(), 2)
        before = state.clusters[created["id"]]
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.json"]  # no temp files

    again = create_simulator_app(token=TOKEN, state_path=path, seed_demo=True)
    async with TestClient(TestServer(again)) as client:
        loaded = again[SIM_STATE]
        assert sorted(loaded.clusters) == [10702, 10800, created["id"]]
        assert loaded.clusters[created["id"]] == before
        assert loaded.stored_password(created["id"]) == "pw"
        assert loaded.versions(created["id"]) == ["e" * 40]
        got = await (await client.post("/api/v1/apps", json={**spec, "name": "next"},
                                       headers=AUTH)).json()
        assert got["id"] == created["id"] + 1
        hook = await client.post(URL(created["url"]).path, data=b"")
        assert hook.status == 200  # the web hook key survived the restart
    assert no_tasks_left()


async def never(_seconds: float) -> None:
    await asyncio.Event().wait()


async def test_an_interrupted_rollout_resumes_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    first = create_simulator_app(token=TOKEN, state_path=path)
    async with TestClient(TestServer(first)) as client:
        first[SIM_OPS].sleep = never  # the rollout never gets past its first step
        await client.put("/api/v1/apps/10702", json={"env_var": {"X": "1"}}, headers=AUTH)
        old = {c.container_id for c in first[SIM_STATE].clusters[10702].containers}
    assert json.loads(path.read_text())["clusters"][0]["status"] == "updating"
    second = create_simulator_app(token=TOKEN, step_s=0.01, state_path=path)
    async with TestClient(TestServer(second)):
        state = second[SIM_STATE]
        while state.clusters[10702].status != "create_succ":
            await asyncio.wait_for(state.change_event(10702).wait(), 2)
        assert not {c.container_id for c in state.clusters[10702].containers} & old
    assert no_tasks_left()


def test_a_fresh_simulator_without_demo_has_only_images() -> None:
    app = create_simulator_app(token=TOKEN, seed_demo=False)
    assert app[SIM_STATE].clusters == {} and len(app[SIM_STATE].images) == 3


def test_an_empty_token_is_refused() -> None:
    with pytest.raises(ValueError, match="token"):
        create_simulator_app(token="")


# -- mounted as a sub-app -----------------------------------------------------------------------


@pytest.mark.parametrize(("public_url", "base"), [
    (None, "ORIGIN"), ("https://relay.example.com/", "https://relay.example.com"),
])
async def test_mounted_under_a_prefix_hands_out_prefixed_hook_urls(public_url: str | None,
                                                                   base: str) -> None:
    parent = web.Application()
    sim = create_simulator_app(token=TOKEN, step_s=0.01, public_url=public_url)
    parent.add_subapp("/simulator", sim)
    async with TestClient(TestServer(parent)) as client:
        origin = f"http://{client.host}:{client.port}"
        prefix = (origin if base == "ORIGIN" else base) + "/simulator/api/v1/hooks/app/"
        spec = {"name": "mounted", "image_type": 1, "image_id": 3, "spec_id": 1}
        created = await (await client.post("/simulator/api/v1/apps", json=spec,
                                           headers=AUTH)).json()
        key = sim[SIM_STATE].clusters[created["id"]].hook_key
        assert created["url"] == prefix + key
        got = await (await client.get("/simulator/api/v1/apps/10702", headers=AUTH)).json()
        assert got["web_hook_url"] == prefix + sim[SIM_STATE].clusters[10702].hook_key
        response = await client.post(URL(got["web_hook_url"]).path, data=b"{}")
        assert response.status == 200 and sim[SIM_STATE].hook_posts[-1].cluster_id == 10702
        assert (await client.get("/api/v1/apps", headers=AUTH)).status == 404
        assert sim[SIM_STATE].requests["apps.create"] == 1
    assert no_tasks_left()
