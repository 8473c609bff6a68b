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
    assert header.split() == ["ID", "CLUSTER", "KIND", "STATUS", "VERSION", "AGE", "ERROR"]
    assert row.split()[:5] == [str(dep_id), "10702", "push", "succeeded", sha("listed")[:12]]
    assert row.split()[5].endswith("s")  # AGE: seconds old
    wide = await relay_cli(h, "deployments", "list", "-o", "wide")
    assert sha("listed") in wide.out and "acme/shop" in wide.out
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


async def test_redeliver_of_the_running_version_is_nothing_to_do(harness: Factory) -> None:
    h = await harness()
    [dep_id] = await h.push(after=sha("same"))
    await h.final(dep_id)
    stored = await h.store.get_deployment(dep_id)
    assert stored is not None and stored.delivery_id
    result = await relay_cli(h, "redeliver", stored.delivery_id, "--follow",
                             "--interval", "0.05")
    assert result.code == 0, result.out + result.err
    assert "skipped" in result.out and "nothing to do" in result.out


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


# -- issue 11 findings 7 and 8, CLI polish --------------------------------------------------


async def test_deploying_the_running_version_is_nothing_to_do(harness: Factory) -> None:
    h = await harness()
    [dep_id] = await h.push(after=sha("running"))
    await h.final(dep_id)
    result = await relay_cli(h, "deploy", "10702", sha("running"), "--follow",
                             "--interval", "0.05")
    assert result.code == 0, result.out + result.err
    assert result.out.strip().splitlines()[-1] == \
        f"nothing to do: {sha('running')} already runs on cluster 10702"


async def test_deploy_expands_a_short_sha_relay_knows(harness: Factory) -> None:
    h = await harness()
    [dep_id] = await h.push(after=sha("known"))
    await h.final(dep_id)
    result = await relay_cli(h, "deploy", "10702", sha("known")[:10])
    assert result.code == 0, result.err
    assert f"-> {sha('known')} (expanded from {sha('known')[:10]})" in result.out


@pytest.mark.parametrize(("args", "code", "needle"), [
    (("deploy", "10702", "deadbeef"), 2, "HTTP 400"),  # unknown short SHA: the server's 400
    (("deploy", "10702", sha("x"), "--bogus"), 2, "unrecognized"),  # argparse's own
    (("deploy", "99999", sha("x")), 1, "HTTP 404"),  # no route names the cluster
    (("deployments", "list", "--status", "nope"), 2, "status must be one of"),
])
async def test_exit_status_2_for_bad_usage_whoever_finds_it(
        harness: Factory, args: tuple[str, ...], code: int, needle: str) -> None:
    h = await harness()
    result = await relay_cli(h, *args)
    assert result.code == code, result.out + result.err
    assert needle in result.err


async def test_deployments_wait_reattaches(harness: Factory) -> None:
    h = await harness(step_s=0.1)
    [dep_id] = await h.push(after=sha("waited"))
    result = await relay_cli(h, "deployments", "wait", str(dep_id), "--interval", "0.05")
    assert result.code == 0, result.out + result.err
    assert result.out.strip().splitlines()[-1].endswith("succeeded (2/2 containers replaced, "
                                                        "2/2 running, cluster status "
                                                        "create_succ)")
    missing = await relay_cli(h, "deployments", "wait", "999")
    assert missing.code == 1 and "HTTP 404" in missing.err


class Proxy:
    """A loopback TCP proxy to relay that can be stopped and started again on its port:
    what a client sees while relay restarts."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in list(self.writers):
            w.close()
        await self.server.wait_closed()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        for task in (asyncio.create_task(pipe(reader, up_writer)),
                     asyncio.create_task(pipe(up_reader, writer))):
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)


async def _read_until(stream: asyncio.StreamReader, needle: str, seen: list[str]) -> None:
    while True:
        line = (await asyncio.wait_for(stream.readline(), 30)).decode()
        assert line, f"stream ended before {needle!r}: {seen}"
        seen.append(line)
        if needle in line:
            return


async def test_deploy_follow_survives_a_relay_restart(harness: Factory) -> None:
    h = await harness(step_s=0.3)
    assert h.client.port is not None
    proxy = Proxy(h.client.port)
    await proxy.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    env["RELAY_ADMIN_TOKEN"] = ADMIN_TOKEN
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relay", "deploy", "10702", sha("restart"), "--follow",
        "--interval", "0.05", "--timeout", "30", "--url", f"http://127.0.0.1:{proxy.port}",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    out: list[str] = []
    err: list[str] = []
    try:
        await _read_until(proc.stdout, "queued", out)
        await proxy.stop()  # relay goes away mid-follow
        await _read_until(proc.stderr, "lost contact", err)
        await proxy.start()  # and comes back on the same port
        rest_out, rest_err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await proxy.stop()
    out.append(rest_out.decode())
    err.append(rest_err.decode())
    assert proc.returncode == 0, "".join(out + err)
    assert "reconnected" in "".join(err)
    assert "succeeded" in out[-1]


async def test_follow_gives_up_after_timeout(harness: Factory) -> None:
    h = await harness()
    assert h.client.port is not None
    proxy = Proxy(h.client.port)
    await proxy.start()
    url = f"http://127.0.0.1:{proxy.port}"
    [dep_id] = await h.push(after=sha("gone"))
    await proxy.stop()
    result = await relay_cli(None, "deployments", "wait", str(dep_id), "--timeout", "1",
                             url=url)
    assert result.code == 1
    assert "gave up following deployment" in result.err


async def test_rollback_deploys_the_version_before_the_current_one(harness: Factory) -> None:
    h = await harness()
    for name in ("one", "two"):
        [dep_id] = await h.push(after=sha(name), before=sha("one") if name == "two" else None)
        await h.final(dep_id)
    dry = await relay_cli(h, "rollback", "10702", "--dry-run")
    assert dry.code == 0, dry.err
    assert f"back from {sha('two')}" in dry.out and f"to {sha('one')}" in dry.out
    assert (await h.api.get(10702)).version == sha("two")
    result = await relay_cli(h, "rollback", "10702", "--follow", "--interval", "0.05")
    assert result.code == 0, result.out + result.err
    assert (await h.api.get(10702)).version == sha("one")
    nothing = await relay_cli(h, "rollback", "10703")
    assert nothing.code == 1 and "nothing to roll back to" in nothing.err


async def test_deliveries_list_and_show(harness: Factory) -> None:
    h = await harness()
    [dep_id] = await h.push(after=sha("delivered"))
    await h.final(dep_id)
    listed = await relay_cli(h, "deliveries", "list")
    assert listed.code == 0, listed.err
    header, row = listed.out.splitlines()[:2]
    assert header.split() == ["DELIVERY", "SOURCE", "EVENT", "REPO", "REF", "COMMIT",
                              "IGNORED", "AGE"]
    delivery_id = row.split()[0]
    assert delivery_id.startswith("github-") and sha("delivered")[:12] in row
    shown = await relay_cli(h, "deliveries", "show", delivery_id)
    assert shown.code == 0, shown.err
    assert "commit:" in shown.out and sha("delivered") in shown.out
    assert "succeeded" in shown.out
    as_json = await relay_cli(h, "deliveries", "list", "--json", "--event", "push")
    assert json.loads(as_json.out)["deliveries"][0]["commit"] == sha("delivered")


async def test_tables_fit_the_terminal_and_honour_no_color(harness: Factory) -> None:
    h = await harness()
    h.fault(f"fail-version:{sha('long')}")
    [dep_id] = await h.push(after=sha("long"))
    await h.final(dep_id)
    cut = await relay_cli(h, "deployments", "list", extra_env={"COLUMNS": "70",
                                                               "NO_COLOR": "1"})
    assert cut.code == 0, cut.err
    assert all(len(line) <= 70 for line in cut.out.splitlines()), cut.out
    assert "…" in cut.out and "\033[" not in cut.out
    full = await relay_cli(h, "deployments", "list")  # a pipe: nothing cut
    assert "…" not in full.out and "update_fail" in full.out
