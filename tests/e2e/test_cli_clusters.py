"""`relay clusters ...` against the simulator on a loopback port (CONTRACT section 2).

The command runs in a worker thread (its own event loop) while the simulator serves from the
test's loop; the Ctrl-C and stdin cases run `python -m relay` as a subprocess.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer, unused_port

from relay.cli import main
from relay.simulator import SIM_FAULTS, SIM_STATE, SimState, create_simulator_app, parse_fault

TOKEN = "cli-token-5b8e2f-do-not-print"
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


@dataclass
class Cli:
    app: web.Application
    url: str
    capsys: pytest.CaptureFixture[str]

    @property
    def state(self) -> SimState:
        return self.app[SIM_STATE]

    async def __call__(self, *argv: str) -> Result:
        """Run `relay clusters ARGV...` in a thread; the token must never be printed."""
        self.capsys.readouterr()

        def run() -> int:
            try:
                return main(["clusters", *argv])
            except SystemExit as exc:  # argparse usage errors
                return int(exc.code or 0)

        code = await asyncio.to_thread(run)
        captured = self.capsys.readouterr()
        assert TOKEN not in captured.out and TOKEN not in captured.err
        return Result(code, captured.out, captured.err)


@pytest.fixture
async def cli(monkeypatch: pytest.MonkeyPatch,
              capsys: pytest.CaptureFixture[str]) -> AsyncIterator[Cli]:
    app = create_simulator_app(token=TOKEN, step_s=0.01, watch_timeout_s=5.0)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    monkeypatch.setenv("RELAY_API_TOKEN", TOKEN)
    monkeypatch.setenv("RELAY_API_URL", url)
    try:
        yield Cli(app, url, capsys)
    finally:
        await server.close()


def one_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1, text
    return lines[0]


# --- reading -----------------------------------------------------------------------------


async def test_images(cli: Cli) -> None:
    r = await cli("images")
    assert r.code == 0
    assert "Custom images" in r.out and "Public images" in r.out
    assert "4638_tomcat2" in r.out and "combo 20-50" in r.out
    data = (await cli("images", "--json")).json()
    assert isinstance(data, dict) and data["custom"][0]["id"] == 30202


async def test_list_table_and_json(cli: Cli) -> None:
    r = await cli("list")
    assert r.code == 0
    header, *rows = r.out.splitlines()
    assert header.split() == ["ID", "NAME", "STATUS", "REPLICAS", "VERSION", "UPDATED"]
    assert rows[0].split()[:4] == ["10702", "shop-web", "create_succ", "2"]
    r = await cli("list", "--limit", "2", "--json")
    data = r.json()
    assert isinstance(data, dict) and data["total"] == 3 and len(data["clusters"]) == 2
    r = await cli("list", "--limit", "2")
    assert "(1 more: use --offset 2 or --all)" in r.out
    data = (await cli("list", "--offset", "2", "--json")).json()
    assert isinstance(data, dict) and [c["id"] for c in data["clusters"]] == [10800]


async def test_list_all(cli: Cli) -> None:
    data = (await cli("list", "--all", "--json")).json()
    assert isinstance(data, dict) and data["total"] == 3
    assert (await cli("list", "--all", "--limit", "5")).code == 2
    r = await cli("list", "--limit", "31")
    assert r.code == 2 and "must be 1..30" in r.err


async def test_get_human_and_json(cli: Cli) -> None:
    r = await cli("get", "10702")
    assert r.code == 0
    assert "name:" in r.out and "shop-web" in r.out
    assert "CONTAINER_ID" in r.out and "containers (2):" in r.out
    assert re.search(r"^version_control\.password: +\*\*\*$", r.out, re.M)
    masked = set(cli.state.issued_masks)
    assert masked and not any(m in r.out for m in masked)  # not even the masked value
    data = (await cli("get", "--json", "10702")).json()
    assert isinstance(data, dict)
    assert data["version_control"]["password"] in cli.state.issued_masks
    assert data["version_control"]["password"] != "demo-password"
    assert data["created_at"].endswith("Z") and len(data["containers"]) == 2


async def test_options_before_or_after_positionals(cli: Cli) -> None:
    for argv in (["--json", "get", "10800"], ["get", "10800", "--json"],
                 ["get", "--api-url", cli.url, "--json", "10800"],
                 ["--timeout", "3", "get", "10800", "--json"]):
        r = await cli(*argv)
        assert r.code == 0, argv
        data = r.json()
        assert isinstance(data, dict) and data["id"] == 10800


# --- writing -----------------------------------------------------------------------------


async def test_create_update_resize_delete(cli: Cli, tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"name": "from-cli", "image_type": 1, "image_id": 3,
                                "spec_id": 1}))
    r = await cli("create", "--file", str(spec), "--json")
    assert r.code == 0
    created = r.json()
    assert isinstance(created, dict) and created["url"].startswith("http")
    new_id = created["id"]
    assert cli.state.clusters[new_id].name == "from-cli"

    patch = tmp_path / "patch.json"
    patch.write_text('{"desc": "changed"}')
    r = await cli("update", str(new_id), "--file", str(patch))
    assert (r.code, r.out.strip()) == (0, f"updated cluster {new_id}")
    assert cli.state.clusters[new_id].desc == "changed"

    r = await cli("resize", str(new_id), "4")
    assert r.code == 0 and cli.state.clusters[new_id].replicas == 4

    r = await cli("delete", str(new_id))
    assert (r.code, r.out.strip()) == (0, f"deleted cluster {new_id}")
    assert new_id not in cli.state.clusters


async def test_create_human_output(cli: Cli, tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"name": "h", "image_type": 1, "image_id": 3, "spec_id": 1}))
    r = await cli("create", "--file", str(spec))
    assert r.code == 0 and r.out.startswith("created cluster ") and "web hook URL: http" in r.out


# --- errors and exit codes ---------------------------------------------------------------


async def test_api_error_is_one_line_and_exit_1(cli: Cli) -> None:
    r = await cli("get", "999")
    assert r.code == 1 and r.out == ""
    line = one_line(r.err)
    assert line.startswith("relay: apps.get failed: HTTP 404 code=4040: ") and "999" in line


async def test_platform_validation_error(cli: Cli, tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"name": "x", "image_type": 1, "image_id": 3, "spec_id": 7}))
    r = await cli("create", "--file", str(spec))
    assert r.code == 1
    assert one_line(r.err).startswith("relay: apps.create failed: HTTP 400 code=4004: ")
    assert "spec_id" in r.err


async def test_create_cut_off_is_not_retried_and_says_so(cli: Cli, tmp_path: Path) -> None:
    cli.app[SIM_FAULTS].add(parse_fault("reset:apps.create:count=1"))
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"name": "x", "image_type": 1, "image_id": 3, "spec_id": 1}))
    r = await cli("create", "--file", str(spec))
    assert r.code == 1 and "may have been created" in one_line(r.err)
    assert cli.state.requests["apps.create"] == 1


async def test_missing_token_exit_2(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RELAY_API_TOKEN")
    r = await cli("list")
    assert r.code == 2 and "RELAY_API_TOKEN" in one_line(r.err)
    assert cli.state.requests["apps.list"] == 0


async def test_bad_file_exit_2(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    r = await cli("create", "--file", str(missing))
    assert r.code == 2 and str(missing) in one_line(r.err)
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "name": "x",\n  "spec_id": \n}')
    r = await cli("update", "10702", "--file", str(bad))
    assert r.code == 2
    assert f"{bad}: invalid JSON at line 4 column 1" in one_line(r.err)
    listed = tmp_path / "list.json"
    listed.write_text("[1]")
    r = await cli("create", "--file", str(listed))
    assert r.code == 2 and "expected a JSON object" in r.err
    assert cli.state.requests["apps.create"] == 0 and cli.state.requests["apps.update"] == 0


async def test_unreachable_api(cli: Cli) -> None:
    url = f"http://127.0.0.1:{unused_port()}"
    r = await cli("list", "--api-url", url)
    assert r.code == 1
    assert one_line(r.err).startswith(f"relay: the cluster API at {url} is unreachable")


async def test_bad_api_url_is_usage(cli: Cli) -> None:
    r = await cli("list", "--api-url", "ftp://x")
    assert r.code == 2 and "http(s)" in r.err


# --- watch -------------------------------------------------------------------------------


async def test_watch_once_returns_on_timeout(cli: Cli) -> None:
    r = await cli("watch", "10702", "--wait", "0.05")
    assert r.code == 0
    assert "cluster 10702: 2 containers" in r.out and "CONTAINER_ID" in r.out
    data = (await cli("watch", "10702", "--wait", "0.05", "--json")).json()
    assert isinstance(data, dict) and len(data["containers"]) == 2


def _env(url: str) -> dict[str, str]:
    env = dict(os.environ, RELAY_API_TOKEN=TOKEN, RELAY_API_URL=url)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.mark.slow
async def test_watch_follow_stops_cleanly_on_ctrl_c(cli: Cli) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relay", "clusters", "watch", "10800", "--follow", "--wait",
        "0.05", "--json", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=_env(cli.url), cwd=ROOT)
    assert proc.stdout is not None
    first = await asyncio.wait_for(proc.stdout.readline(), 10)
    second = await asyncio.wait_for(proc.stdout.readline(), 10)  # it repeats
    assert json.loads(first)["id"] == 10800 and json.loads(second)["id"] == 10800
    proc.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 130
    assert b"Traceback" not in err and TOKEN.encode() not in out + err


@pytest.mark.slow
async def test_create_from_stdin_in_a_subprocess(cli: Cli) -> None:
    spec = json.dumps({"name": "stdin", "image_type": 1, "image_id": 3, "spec_id": 1})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relay", "clusters", "create", "--file", "-", "--json",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=_env(cli.url), cwd=ROOT)
    out, err = await asyncio.wait_for(proc.communicate(spec.encode()), 10)
    assert proc.returncode == 0, err
    assert cli.state.clusters[json.loads(out)["id"]].name == "stdin"
    assert TOKEN.encode() not in out + err
