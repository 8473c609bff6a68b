"""`relay deployments`, `relay deploy`, `relay redeliver` and `relay demo push` against relay."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass

import pytest

from tests.factories import ADMIN_TOKEN
from tests.harness import Factory, Harness
from tests.payloads import SECRET, sha

pytestmark = pytest.mark.slow


@dataclass
class Result:
    code: int
    out: str
    err: str


async def relay_cli(h: Harness | None, *args: str, token: str | None = ADMIN_TOKEN,
                    url: str | None = None, extra_env: dict[str, str] | None = None) -> Result:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    if token is not None:
        env["RELAY_ADMIN_TOKEN"] = token
    env.update(extra_env or {})
    base = url or (str(h.client.make_url("")).rstrip("/") if h else "http://127.0.0.1:9")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relay", *args, "--url", base, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


async def test_deployments_list_and_show(harness: Factory) -> None:
    h = await harness()
    [dep_id] = await h.push(after=sha("listed"))
    await h.final(dep_id)
    table = await relay_cli(h, "deployments", "list")
    assert table.code == 0, table.err
    header, row = table.out.splitlines()[:2]
    assert header.split()[:4] == ["ID", "CLUSTER", "ACTION", "STATUS"]
    assert row.split()[:4] == [str(dep_id), "10702", "version", "succeeded"]
    as_json = await relay_cli(h, "deployments", "list", "--json", "--cluster", "10702")
    assert json.loads(as_json.out)["deployments"][0]["version"] == sha("listed")
    shown = await relay_cli(h, "deployments", "show", str(dep_id))
    assert "status:" in shown.out and "succeeded" in shown.out
    assert "2/2 containers replaced" in shown.out
    assert ADMIN_TOKEN not in table.out + shown.out + as_json.out


async def test_deploy_follow_shows_progress_and_exits_0(harness: Factory) -> None:
    h = await harness(step_s=0.2)
    result = await relay_cli(h, "deploy", "10702", sha("by-hand"), "--follow",
                             "--interval", "0.05")
    assert result.code == 0, result.out + result.err
    assert "containers replaced" in result.out
    assert result.out.strip().splitlines()[-1].endswith(
        "succeeded (2/2 containers replaced, 2/2 running, cluster status create_succ)")
    assert (await h.api.get(10702)).version == sha("by-hand")


async def test_deploy_follow_exits_1_when_the_rollout_fails(harness: Factory) -> None:
    h = await harness()
    h.fault(f"fail-version:{sha('bad')}")
    result = await relay_cli(h, "deploy", "10702", sha("bad"), "--follow", "--interval", "0.05")
    assert result.code == 1
    assert "failed" in result.out and "update_fail" in result.err


async def test_redeliver_rolls_a_stored_delivery_back_out(harness: Factory) -> None:
    h = await harness()
    [old] = await h.push(after=sha("old"), timestamp="2026-11-26T10:00:00+00:00")
    await h.final(old)
    [new] = await h.push(after=sha("new"), before=sha("old"),
                         timestamp="2026-11-26T11:00:00+00:00")
    await h.final(new)
    stored = await h.store.get_deployment(old)
    assert stored is not None and stored.delivery_id
    result = await relay_cli(h, "redeliver", stored.delivery_id, "--follow",
                             "--interval", "0.05")
    assert result.code == 0, result.out + result.err
    assert "succeeded" in result.out
    assert (await h.api.get(10702)).version == sha("old")  # deliberate: not skipped as older
    deps = await h.store.list_deployments(cluster=10702)
    assert [d.manual for d in deps] == [True, False, False]


async def test_redeliver_of_the_running_version_is_skipped(harness: Factory) -> None:
    h = await harness()
    [dep_id] = await h.push(after=sha("same"))
    await h.final(dep_id)
    stored = await h.store.get_deployment(dep_id)
    assert stored is not None and stored.delivery_id
    result = await relay_cli(h, "redeliver", stored.delivery_id, "--follow",
                             "--interval", "0.05")
    assert result.code == 1
    assert "skipped" in result.out and "already the cluster's version" in result.err


async def test_errors_are_one_line_with_the_right_exit_status(harness: Factory) -> None:
    h = await harness()
    missing = await relay_cli(h, "deployments", "show", "999")
    assert missing.code == 1
    assert missing.err.strip() == "relay: GET /api/deployments/999: HTTP 404: deployment 999 " \
        "not found"
    no_token = await relay_cli(h, "deployments", "list", token=None)
    assert no_token.code == 2 and "RELAY_ADMIN_TOKEN" in no_token.err
    wrong = await relay_cli(h, "deployments", "list", token="wrong")
    assert wrong.code == 1 and "HTTP 401" in wrong.err
    down = await relay_cli(None, "deployments", "list")
    assert down.code == 1 and "unreachable" in down.err and len(down.err.splitlines()) == 1


async def test_demo_push_sends_a_signed_push_and_follows_it(harness: Factory) -> None:
    h = await harness()
    result = await relay_cli(h, "demo", "push", "--interval", "0.05",
                             extra_env={"RELAY_GITHUB_SECRET": SECRET.decode()})
    assert result.code == 0, result.out + result.err
    assert "HTTP 202" in result.out and "succeeded" in result.out
    assert SECRET.decode() not in result.out + result.err
