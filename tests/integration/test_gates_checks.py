"""The checks gate end to end (docs/gates.md): relay, the simulator, and the fake GitHub
API of relay.fakegit serving the commits' check runs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from relay.deployment import DeploymentStatus
from relay.events import Source
from relay.fakegit import PREFIX, CheckRun, FakeHost, api_url, create_fake_git_app
from relay.gatekeeper import GitHostChecks
from relay.gates.checks import WaitForChecks
from relay.gates.filters import RouteFilters
from relay.githost import Comparison, RetryPolicy, client_for
from relay.secret import Secret
from relay.typedefs import WORKER
from tests.fakes import eventually
from tests.harness import Factory, Harness
from tests.payloads import SECRET, github_headers, sha

TOKEN = "ghp_fake_token_0123456789abcdef"
REPO = "acme/shop"
PENDING = [CheckRun("build", status="in_progress", conclusion=None)]
GREEN = [CheckRun("build")]
WAITING, SUCCEEDED, SKIPPED, SUPERSEDED = (
    DeploymentStatus.WAITING_CHECKS, DeploymentStatus.SUCCEEDED, DeploymentStatus.SKIPPED,
    DeploymentStatus.SUPERSEDED)


class FakeGitHub:
    def __init__(self, host: FakeHost, reader: GitHostChecks) -> None:
        self.host = host
        self.reader = reader

    def runs(self, commit: str, runs: list[CheckRun]) -> None:
        if commit not in self.host.repos[REPO].commits:
            self.host.add_commit(REPO, commit)
        self.host.set_check_runs(REPO, commit, runs)


@pytest.fixture
async def github() -> AsyncIterator[FakeGitHub]:
    host = FakeHost("github")
    host.add_repo(REPO)
    root = web.Application()
    root.add_subapp(PREFIX, create_fake_git_app({Source.GITHUB: TOKEN},
                                                hosts={Source.GITHUB: host}))
    async with TestServer(root) as server, aiohttp.ClientSession() as session:
        origin = str(server.make_url("")).rstrip("/")
        client = client_for(Source.GITHUB, session, api_url(origin, Source.GITHUB),
                            Secret(TOKEN), retry=RetryPolicy(attempts=1))
        yield FakeGitHub(host, GitHostChecks({Source.GITHUB: client}))


async def relay_with_checks(harness: Factory, github: FakeGitHub) -> Harness:
    h = await harness(route_changes={"wait_for_checks": WaitForChecks(timeout_s=3600)})
    h.client.app[WORKER].gatekeeper.checks = github.reader
    return h


async def check_run_delivery(h: Harness, key: str) -> None:
    """A `check_run` webhook: relay stores it and looks at every checks wait at once."""
    body = b'{"action": "completed", "check_run": {"name": "build"}}'
    resp = await h.client.post("/hooks/github", data=body, headers=github_headers(
        body, secret=SECRET, event="check_run", delivery=key))
    assert resp.status in (200, 202), await resp.text()


async def push(h: Harness, commit: str) -> int:
    [dep] = await h.push(after=commit)
    return dep


def waiting_checks(h: Harness) -> float:
    return h.registry.get_sample_value("relay_deployments_waiting", {"reason": "checks"}) or 0.0


async def test_pending_checks_wait_and_green_deploys_exactly_once(
        harness: Factory, github: FakeGitHub) -> None:
    h = await relay_with_checks(harness, github)
    commit = sha("checked")
    github.runs(commit, PENDING)
    dep = await push(h, commit)
    stored = await h.store.get_deployment(dep)
    assert stored is not None and stored.status is WAITING
    await eventually(lambda: waiting_checks(h) == 1)
    assert h.puts(10702) == []
    github.runs(commit, GREEN)
    await check_run_delivery(h, "cr-1")
    final = await h.final(dep)
    assert final.status is SUCCEEDED, final.error
    await check_run_delivery(h, "cr-2")  # a later wake-up changes nothing
    assert [p["version_control"]["version"] for p in h.puts(10702)] == [commit]
    assert h.finals.calls[dep] == 1


async def test_a_red_check_skips_the_deployment_naming_it(
        harness: Factory, github: FakeGitHub) -> None:
    h = await relay_with_checks(harness, github)
    commit = sha("red")
    github.runs(commit, [CheckRun("lint", conclusion="failure"), CheckRun("build")])
    final = await h.final(await push(h, commit))
    assert final.status is SKIPPED
    assert "lint" in (final.error or "") and "build" not in (final.error or "")
    assert h.puts(10702) == []


async def test_a_newer_push_supersedes_a_waiting_one(harness: Factory,
                                                     github: FakeGitHub) -> None:
    h = await relay_with_checks(harness, github)
    older, newer = sha("older"), sha("newer")
    github.runs(older, PENDING)
    github.runs(newer, PENDING)
    first = await push(h, older)
    second = await push(h, newer)
    gone = await h.final(first)
    assert gone.status is SUPERSEDED and gone.superseded_by == second
    github.runs(newer, GREEN)
    await check_run_delivery(h, "cr-3")
    assert (await h.final(second)).status is SUCCEEDED


async def test_a_restart_while_waiting_resumes_the_wait(harness: Factory,
                                                        github: FakeGitHub) -> None:
    h = await relay_with_checks(harness, github)
    commit = sha("restart")
    github.runs(commit, PENDING)
    dep = await push(h, commit)
    await eventually(lambda: waiting_checks(h) == 1)
    await h.client.close()
    h2 = await relay_with_checks(harness, github)
    await eventually(lambda: waiting_checks(h2) == 1)  # the wait was read back from the store
    github.runs(commit, GREEN)
    await check_run_delivery(h2, "cr-4")
    final = await h2.final(dep)
    assert final.status is SUCCEEDED, final.error


# -- path filters with the compare API ----------------------------------------------------------


class CountingCompare:
    """The fake's compare API through the real client, counting the calls."""

    def __init__(self, reader: GitHostChecks) -> None:
        self.reader = reader
        self.sources = reader.sources
        self.calls: list[tuple[str, str]] = []

    async def compare(self, source: Source, repo: str, base: str, head: str) -> Comparison:
        self.calls.append((base, head))
        return await self.reader.compare(source, repo, base, head)


def long_push(base: str, head: str) -> dict[str, object]:
    """25 commits, each listing a docs file only: the payload may be cut short."""
    commits = [{"id": sha(f"{head}-{i}"), "message": "docs", "timestamp": "2026-11-29T10:00:00Z",
                "added": ["docs/x.md"], "modified": [], "removed": []} for i in range(24)]
    commits.append({"id": head, "message": "more", "timestamp": "2026-11-29T10:00:00Z",
                    "added": ["docs/y.md"], "modified": [], "removed": []})
    return {"before": base, "after": head, "extra": {"commits": commits}}


@pytest.mark.parametrize(("changed", "deploys"), [(("docs/a.md",), False),
                                                  (("docs/a.md", "src/app.py"), True)])
async def test_a_long_push_asks_the_compare_api(harness: Factory, github: FakeGitHub,
                                                changed: tuple[str, ...],
                                                deploys: bool) -> None:
    h = await harness(route_changes={"filters": RouteFilters(paths_ignore=("docs/**",))})
    counting = CountingCompare(github.reader)
    h.client.app[WORKER].gatekeeper.compare = counting
    base, head = sha("base-commit"), sha("head-commit")
    github.host.add_commit(REPO, base)
    github.host.add_commit(REPO, head, files=changed, parent=base)
    [dep] = await h.push(**long_push(base, head))
    final = await h.final(dep)
    assert counting.calls == [(base, head)]
    if deploys:
        assert final.status is SUCCEEDED, final.error
    else:
        assert final.status is SKIPPED
        assert final.error == "paths: all of the 1 changed file match paths_ignore (compare API)"
        assert h.puts(10702) == []
