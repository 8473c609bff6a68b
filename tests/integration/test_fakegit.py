"""The fake hosts over HTTP: what they validate, what they record, their layout and faults."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from relay.events import Source
from relay.fakegit import (
    FAKE_HOSTS,
    PREFIX,
    FakeHost,
    api_url,
    create_fake_git_app,
    create_fake_github_app,
)

TOKEN = "fake-token"
SHA = "a" * 40
REPO = "acme/shop"
AUTH = {
    Source.GITHUB: {"Authorization": f"Bearer {TOKEN}"},
    Source.GITLAB: {"PRIVATE-TOKEN": TOKEN},
    Source.GITEA: {"Authorization": f"token {TOKEN}"},
}
STATUS_PATH = {
    Source.GITHUB: f"/repos/{REPO}/statuses/{SHA}",
    Source.GITLAB: f"/projects/acme%2Fshop/statuses/{SHA}",
    Source.GITEA: f"/repos/{REPO}/statuses/{SHA}",
}


class Fake:
    def __init__(self, origin: str, session: aiohttp.ClientSession,
                 hosts: dict[Source, FakeHost]) -> None:
        self.origin, self.session, self.hosts = origin, session, hosts

    async def call(self, source: Source, method: str, path: str, *, auth: bool = True,
                   **kwargs: Any) -> tuple[int, Any]:
        url = URL(api_url(self.origin, source) + path, encoded=True)
        headers = {**(AUTH[source] if auth else {}), **kwargs.pop("headers", {})}
        async with self.session.request(method, url, headers=headers, **kwargs) as resp:
            body = await resp.json() if resp.content_type == "application/json" else \
                await resp.text()
            return resp.status, body

    async def status(self, source: Source, **body: Any) -> tuple[int, Any]:
        return await self.call(source, "POST", STATUS_PATH[source], json=body)


@pytest.fixture
async def fake() -> AsyncIterator[Fake]:
    hosts = {s: FakeHost(s.value) for s in Source}
    for host in hosts.values():
        host.add_repo(REPO, branches={"main": SHA})
    root = web.Application()
    root.add_subapp(PREFIX, create_fake_git_app({s: TOKEN for s in Source}, hosts=hosts))
    async with TestServer(root) as server, aiohttp.ClientSession() as session:
        yield Fake(str(server.make_url("")).rstrip("/"), session, hosts)


@pytest.mark.parametrize(("source", "bad_state", "code"), [
    (Source.GITHUB, "running", 422), (Source.GITLAB, "failure", 400),
    (Source.GITEA, "canceled", 422)])
async def test_each_host_takes_only_its_own_state_names(fake: Fake, source: Source,
                                                        bad_state: str, code: int) -> None:
    status, body = await fake.status(source, state=bad_state, context="c")
    assert status == code and "state" in str(body)
    assert fake.hosts[source].statuses == []


async def test_github_rejects_a_141_character_description(fake: Fake) -> None:
    status, body = await fake.status(Source.GITHUB, state="success", description="x" * 141)
    assert status == 422 and "maximum is 140" in body["errors"][0]["message"]
    status, _ = await fake.status(Source.GITHUB, state="success", description="x" * 140)
    assert status == 201


async def test_github_rejects_the_1001st_status_of_a_context(fake: Fake) -> None:
    host = fake.hosts[Source.GITHUB]
    for _ in range(999):
        host.record_status(REPO, SHA, "pending", "relay/1", "", None)
    assert (await fake.status(Source.GITHUB, state="success", context="relay/1"))[0] == 201
    status, body = await fake.status(Source.GITHUB, state="success", context="relay/1")
    assert status == 422 and "maximum number of statuses" in body["errors"][0]["message"]
    assert (await fake.status(Source.GITHUB, state="success", context="relay/2"))[0] == 201


@pytest.mark.parametrize("source", list(Source))
async def test_a_bad_or_missing_token_is_401(fake: Fake, source: Source) -> None:
    assert (await fake.call(source, "POST", STATUS_PATH[source], auth=False,
                            json={"state": "success"}))[0] == 401
    wrong = {k: v.replace(TOKEN, "nope") for k, v in AUTH[source].items()}
    status, _ = await fake.call(source, "POST", STATUS_PATH[source], auth=False,
                                headers=wrong, json={"state": "success"})
    assert status == 401 and fake.hosts[source].statuses == []


@pytest.mark.parametrize("source", list(Source))
async def test_unknown_repository_and_commit_are_refused(fake: Fake, source: Source) -> None:
    path = STATUS_PATH[source].replace("shop", "nope")
    assert (await fake.call(source, "POST", path, json={"state": "success"}))[0] == 404
    path = STATUS_PATH[source].replace(SHA, "b" * 40)
    status, _ = await fake.call(source, "POST", path, json={"state": "success"})
    # GitHub answers a status on an unknown sha with 422 "No commit found for SHA".
    assert status == (422 if source is Source.GITHUB else 404)


async def test_lenient_mode_takes_unknown_repositories_commits_and_branches(fake: Fake
                                                                           ) -> None:
    for host in fake.hosts.values():
        host.lenient = True
    path = STATUS_PATH[Source.GITEA].replace(SHA, "b" * 40).replace("shop", "other")
    assert (await fake.call(Source.GITEA, "POST", path, json={"state": "success"}))[0] == 201
    path = STATUS_PATH[Source.GITEA].replace(SHA, "not-a-sha")
    assert (await fake.call(Source.GITEA, "POST", path, json={"state": "success"}))[0] == 404
    status, _ = await fake.call(Source.GITLAB, "POST", "/projects/acme%2Fnew/deployments", json={
        "environment": "e", "sha": "b" * 40, "ref": "release", "tag": False,
        "status": "running"})
    assert status == 201
    assert fake.hosts[Source.GITLAB].repos["acme/new"].branches == {"release": "b" * 40}


@pytest.mark.parametrize("source", list(Source))
async def test_records_are_listed_in_order_without_a_token(fake: Fake, source: Source) -> None:
    for state in ("pending", "success"):
        await fake.status(source, state=state, context="relay/1", description=state)
    async with fake.session.get(f"{fake.origin}{PREFIX}/{source.value}/statuses") as resp:
        listed = await resp.json()
    assert [(s["state"], s["context"], s["sha"]) for s in listed] == [
        ("pending", "relay/1", SHA), ("success", "relay/1", SHA)]
    async with fake.session.get(f"{fake.origin}{PREFIX}/{source.value}/deployments") as resp:
        assert await resp.json() == []


async def test_github_deployment_without_required_contexts_waits_for_green(fake: Fake) -> None:
    fake.hosts[Source.GITHUB].record_status(REPO, SHA, "pending", "ci", "", None)
    path = f"/repos/{REPO}/deployments"
    status, body = await fake.call(Source.GITHUB, "POST", path, json={"ref": SHA})
    assert status == 409 and "Conflict" in body["message"]
    status, body = await fake.call(Source.GITHUB, "POST", path,
                                   json={"ref": SHA, "required_contexts": []})
    assert status == 201 and body["sha"] == SHA


async def test_github_deployment_status_names_are_checked(fake: Fake) -> None:
    _, created = await fake.call(Source.GITHUB, "POST", f"/repos/{REPO}/deployments",
                                 json={"ref": "main", "required_contexts": []})
    path = f"/repos/{REPO}/deployments/{created['id']}/statuses"
    assert (await fake.call(Source.GITHUB, "POST", path, json={"state": "done"}))[0] == 422
    assert (await fake.call(Source.GITHUB, "POST", path, json={"state": "queued"}))[0] == 201
    path = f"/repos/{REPO}/deployments/999/statuses"
    assert (await fake.call(Source.GITHUB, "POST", path, json={"state": "queued"}))[0] == 404


async def test_gitlab_deployment_takes_only_api_statuses(fake: Fake) -> None:
    path = "/projects/acme%2Fshop/deployments"
    body = {"environment": "e", "sha": SHA, "ref": "main", "tag": False}
    assert (await fake.call(Source.GITLAB, "POST", path,
                            json={**body, "status": "created"}))[0] == 400
    status, created = await fake.call(Source.GITLAB, "POST", path,
                                      json={**body, "status": "running"})
    assert status == 201
    status, _ = await fake.call(Source.GITLAB, "PUT", f"{path}/{created['id']}",
                                json={"status": "success"})
    assert status == 200
    assert fake.hosts[Source.GITLAB].deployments[0].state == "success"


@pytest.mark.parametrize("source", list(Source))
async def test_branch_reads_answer_304_to_a_matching_etag(fake: Fake, source: Source) -> None:
    path = {Source.GITHUB: f"/repos/{REPO}/branches/main",
            Source.GITLAB: "/projects/acme%2Fshop/repository/branches/main",
            Source.GITEA: f"/repos/{REPO}/branches/main"}[source]
    url = URL(api_url(fake.origin, source) + path, encoded=True)
    async with fake.session.get(url, headers=AUTH[source]) as resp:
        etag = resp.headers["ETag"]
    async with fake.session.get(url, headers={**AUTH[source], "If-None-Match": etag}) as resp:
        assert resp.status == 304 and await resp.read() == b""


async def test_faults_are_per_host_and_counted(fake: Fake) -> None:
    fake.hosts[Source.GITHUB].faults.add("error:commit_status:500:count=1")
    assert (await fake.status(Source.GITHUB, state="success"))[0] == 500
    assert (await fake.status(Source.GITEA, state="success"))[0] == 201
    assert (await fake.status(Source.GITHUB, state="success"))[0] == 201
    assert [f.spec for f in fake.hosts[Source.GITHUB].faults.fired] == [
        "error:commit_status:500:count=1"]


async def test_gitlab_rate_limit_fault_sends_ratelimit_headers(fake: Fake) -> None:
    fake.hosts[Source.GITLAB].faults.add("error:*:429:retry-after=3")
    url = api_url(fake.origin, Source.GITLAB) + "/projects/acme%2Fshop/repository/compare"
    async with fake.session.get(url, headers=AUTH[Source.GITLAB]) as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "3"
        assert resp.headers["RateLimit-Remaining"] == "0"


async def test_truncated_fault_cuts_the_json_body(fake: Fake) -> None:
    fake.hosts[Source.GITHUB].faults.add("truncated:branch")
    url = api_url(fake.origin, Source.GITHUB) + f"/repos/{REPO}/branches/main"
    async with fake.session.get(url, headers=AUTH[Source.GITHUB]) as resp:
        text = await resp.text()
    with pytest.raises(ValueError):
        json.loads(text)


async def test_the_combined_app_serves_only_the_hosts_given_tokens() -> None:
    app = create_fake_git_app({Source.GITHUB: TOKEN})
    assert list(app[FAKE_HOSTS]) == [Source.GITHUB]
    with pytest.raises(ValueError, match="non-empty token"):
        create_fake_github_app(FakeHost("github"), "")


def test_api_urls_follow_each_hosts_layout() -> None:
    origin = "http://127.0.0.1:8080"
    assert [api_url(origin, s) for s in Source] == [
        "http://127.0.0.1:8080/fake-git/github",
        "http://127.0.0.1:8080/fake-git/gitlab/api/v4",
        "http://127.0.0.1:8080/fake-git/gitea/api/v1"]


async def test_faults_and_commits_can_be_set_over_http_with_the_token(fake: Fake) -> None:
    base = f"{fake.origin}{PREFIX}/github"
    auth = AUTH[Source.GITHUB]
    async with fake.session.post(base + "/faults", json={"spec": "error:compare:503"}) as resp:
        assert resp.status == 401
    async with fake.session.post(base + "/faults", json={"spec": "error:nope:503"},
                                 headers=auth) as resp:
        assert resp.status == 400 and "unknown operation 'nope'" in await resp.text()
    async with fake.session.post(base + "/faults", json={"spec": "error:branch:503:count=1"},
                                 headers=auth) as resp:
        assert resp.status == 201
    commit = {"repo": REPO, "sha": "b" * 40, "parent": SHA, "files": ["x.py"],
              "branch": "main"}
    async with fake.session.post(base + "/commits", json=commit, headers=auth) as resp:
        assert resp.status == 201
    assert (await fake.call(Source.GITHUB, "GET", f"/repos/{REPO}/branches/main"))[0] == 503
    status, body = await fake.call(Source.GITHUB, "GET", f"/repos/{REPO}/branches/main")
    assert (status, body["commit"]["sha"]) == (200, "b" * 40)
    async with fake.session.get(base + "/faults", headers=auth) as resp:
        assert await resp.json() == {"active": [], "fired": ["error:branch:503:count=1"]}
    async with fake.session.delete(base + "/faults", headers=auth) as resp:
        assert resp.status == 204
    assert fake.hosts[Source.GITHUB].rate_used == 1  # only the API read that answered 200
