"""`relay fake-git` on the command line: options, refusals, and a real client against it."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys

import aiohttp
import pytest

from relay.cli import build_parser, main
from relay.events import Source
from relay.fakegit import GRAMMAR
from relay.githost import CommitState, Head, RetryPolicy, ServerError, client_for
from relay.secret import Secret

TOKEN = "fake-git-cli-token"
SHA = "c" * 40


@pytest.mark.parametrize(("argv", "names"), [
    (["--fault", "error:apps.get:503"], "unknown operation 'apps.get'"),
    (["--fault", "github:boom:*"], "unknown kind 'boom'"),
    (["--port", "http"], "invalid int value"),
])
def test_bad_arguments_exit_2_naming_the_bad_part(capsys: pytest.CaptureFixture[str],
                                                  argv: list[str], names: str) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["fake-git", *argv])
    assert info.value.code == 2 and names in capsys.readouterr().err


def test_help_documents_urls_and_faults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["fake-git", "--help"])
    out = capsys.readouterr().out
    assert GRAMMAR in out and "/fake-git/gitlab/api/v4" in out


def test_faults_may_be_scoped_to_one_host() -> None:
    args = build_parser().parse_args(["fake-git", "--fault", "gitlab:error:*:500",
                                      "--fault", "reset:branch"])
    assert [(scope, f.spec) for scope, f in args.fault] == [
        ("gitlab", "error:*:500"), (None, "reset:branch")]


def test_refuses_to_start_without_a_token(monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("RELAY_FAKE_GIT_TOKEN", raising=False)
    assert main(["fake-git", "--port", "0"]) == 2
    assert "no token" in capsys.readouterr().err


def test_refuses_a_bad_repository_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fake-git", "--port", "0", "--token", TOKEN, "--repo", "shop"]) == 2
    assert "'shop' is not 'owner/name'" in capsys.readouterr().err


@pytest.mark.slow
async def test_the_command_serves_the_three_hosts_to_real_clients() -> None:
    env = {**os.environ, "RELAY_FAKE_GIT_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relay", "fake-git", "--port", "0", "--repo", "acme/shop",
        "--fault", "gitea:error:commit_status:500", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert proc.stdout is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
        urls = {s: re.search(rf"{s.value}=(http://\S+)", line) for s in Source}
        assert all(urls.values()), line
        retry = RetryPolicy.no_wait(attempts=1)
        async with aiohttp.ClientSession() as session:
            clients = {s: client_for(s, session, m[1], Secret(TOKEN), retry=retry)
                       for s, m in urls.items() if m}
            for source in (Source.GITHUB, Source.GITLAB):
                await clients[source].set_commit_status(
                    "acme/shop", SHA, state=CommitState.SUCCESS, context="relay/1",
                    description="rolled out")
                head = await clients[source].branch_head("acme/shop", "main")
                assert isinstance(head, Head) and head.sha == "0" * 40
            with pytest.raises(ServerError):
                await clients[Source.GITEA].set_commit_status(
                    "acme/shop", SHA, state=CommitState.SUCCESS, context="relay/1",
                    description="")
            origin = urls[Source.GITHUB][1].removesuffix("/github")  # type: ignore[index]
            async with session.get(origin + "/gitlab/statuses") as response:
                assert [s["state"] for s in await response.json()] == ["success"]
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert TOKEN not in line + (await proc.stdout.read()).decode()
