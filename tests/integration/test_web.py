"""The webhook endpoints: every row of CONTRACT section 4's answer table, on a real server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

import relay.web
from relay.app import create_app
from relay.config import ServerSettings, Settings
from relay.events import parse_delivery
from relay.gates.filters import RouteFilters
from relay.store import Store
from relay.typedefs import STORE
from tests.factories import make_settings
from tests.payloads import (
    FORM,
    GITLAB_TOKEN,
    OTHER_SECRET,
    SECRET,
    form_encode,
    gitea_headers,
    gitea_push,
    github_event,
    github_headers,
    github_ping,
    github_push,
    gitlab_headers,
    gitlab_push,
    sha,
)

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def client(aiohttp_client: ClientFactory, settings: Settings) -> TestClient[Any, Any]:
    app = create_app(settings, run_worker=False, registry=CollectorRegistry())
    return await aiohttp_client(app)


def store_of(client: TestClient[Any, Any]) -> Store:
    return client.app[STORE]


async def post_github(client: TestClient[Any, Any], body: bytes, **kw: Any) -> Any:
    return await client.post("/hooks/github", data=body, headers=github_headers(body, **kw))


# -- 202: stored, deployments queued -----------------------------------------------------


async def test_matching_push_is_stored_and_answered_202(client: TestClient[Any, Any]) -> None:
    body = github_push("acme/shop", "refs/heads/main", after=sha("x"))
    resp = await post_github(client, body, delivery="d-1")
    assert resp.status == 202
    data = await resp.json()
    assert data["delivery_id"] == "github-d-1"
    assert [(d["cluster"], d["action"], d["status"]) for d in data["deployments"]] == [
        (10702, "version", "queued")]
    stored = await store_of(client).get_delivery("github-d-1")
    assert stored is not None
    assert stored.delivery.body == body  # the raw bytes, to forward later
    assert stored.delivery.commit == sha("x")
    assert ("X-GitHub-Event", "push") in stored.delivery.headers
    assert [d.id for d in stored.deployments] == [d["id"] for d in data["deployments"]]


async def test_one_push_can_match_several_routes(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    from relay.config import Action, Route

    extra = Route(index=3, repo="acme/*", branch="main", tag=None, cluster=10900,
                  action=Action.HOOK)
    settings = make_settings(tmp_path)
    settings = make_settings(tmp_path, routes=(*settings.routes, extra))
    client = await aiohttp_client(create_app(settings, run_worker=False,
                                             registry=CollectorRegistry()))
    resp = await post_github(client, github_push("acme/shop"))
    assert resp.status == 202
    assert {d["cluster"] for d in (await resp.json())["deployments"]} == {10702, 10900}


async def test_form_encoded_github_delivery(client: TestClient[Any, Any]) -> None:
    body = form_encode(github_push("acme/shop"))
    resp = await post_github(client, body, content_type=FORM)
    assert resp.status == 202


async def test_signature_made_with_the_second_of_two_secrets(client: TestClient[Any, Any]) -> None:
    body = github_push("acme/shop")
    assert (await post_github(client, body, secret=SECRET)).status == 202
    body2 = github_push("acme/shop", after=sha("other"))
    assert (await post_github(client, body2, secret=OTHER_SECRET)).status == 202


async def test_lower_case_header_names(client: TestClient[Any, Any]) -> None:
    body = github_push("acme/shop")
    headers = {k.lower(): v for k, v in github_headers(body).items()}
    assert (await client.post("/hooks/github", data=body, headers=headers)).status == 202


async def test_gitlab_push_and_tag_push(client: TestClient[Any, Any]) -> None:
    body = gitlab_push("acme/shop", "refs/heads/main")
    resp = await client.post("/hooks/gitlab", data=body, headers=gitlab_headers())
    assert resp.status == 202
    tag = gitlab_push("acme/shop", "refs/tags/v1.2.0")
    resp = await client.post("/hooks/gitlab", data=tag,
                             headers=gitlab_headers(event="Tag Push Hook"))
    assert resp.status == 202
    assert [d["cluster"] for d in (await resp.json())["deployments"]] == [10800]


async def test_gitea_push(client: TestClient[Any, Any]) -> None:
    body = gitea_push("acme/api", "refs/heads/main")
    resp = await client.post("/hooks/gitea", data=body, headers=gitea_headers(body))
    assert resp.status == 202
    assert [d["cluster"] for d in (await resp.json())["deployments"]] == [10703]


# -- 200: ignored and duplicate ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "event", "reason"),
    [
        (github_ping(), "ping", "ping"),
        (github_push("acme/other"), "push", "no route matches acme/other refs/heads/main"),
        (github_push("acme/shop", after="0" * 40), "push", "deleted"),
        (github_event(), "issues", "issues"),
    ],
    ids=["ping", "no-route", "deletion", "other-event"],
)
async def test_ignored_deliveries_are_stored_and_answered_200(
    client: TestClient[Any, Any], body: bytes, event: str, reason: str
) -> None:
    resp = await post_github(client, body, event=event, delivery="ign-1")
    assert resp.status == 200
    data = await resp.json()
    assert data["delivery_id"] == "github-ign-1"
    assert reason in data["ignored"]
    stored = await store_of(client).get_delivery("github-ign-1")
    assert stored is not None and stored.deployments == ()
    again = await post_github(client, body, event=event, delivery="ign-1")
    assert again.status == 200
    assert await again.json() == {"delivery_id": "github-ign-1", "duplicate": True,
                                  "deployments": []}


async def test_duplicate_answers_200_with_the_first_deployments(
    client: TestClient[Any, Any],
) -> None:
    body = github_push("acme/shop")
    first = await (await post_github(client, body, delivery="dup")).json()
    resp = await post_github(client, body, delivery="dup")
    assert resp.status == 200
    data = await resp.json()
    assert data["duplicate"] is True
    assert [d["id"] for d in data["deployments"]] == [d["id"] for d in first["deployments"]]
    assert len(await store_of(client).list_deployments()) == 1


async def test_twenty_concurrent_copies_store_one_delivery(client: TestClient[Any, Any]) -> None:
    body = github_push("acme/shop")
    responses = await asyncio.gather(
        *(post_github(client, body, delivery="same") for _ in range(20)))
    statuses = sorted(r.status for r in responses)
    assert statuses == [200] * 19 + [202]
    assert len(await store_of(client).list_deployments()) == 1


async def test_gitlab_without_idempotency_key_dedupes_on_the_body(
    client: TestClient[Any, Any],
) -> None:
    body = gitlab_push("acme/shop")
    first = await client.post("/hooks/gitlab", data=body,
                              headers=gitlab_headers(idempotency_key=None))
    second = await client.post("/hooks/gitlab", data=body,
                               headers=gitlab_headers(idempotency_key=None))
    assert (first.status, second.status) == (202, 200)
    assert (await second.json())["duplicate"] is True


# -- refusals --------------------------------------------------------------------------------


async def test_wrong_secret_is_401(client: TestClient[Any, Any]) -> None:
    with capture_logs() as logs:
        resp = await post_github(client, github_push(), secret=b"wrong")
    assert resp.status == 401
    [line] = [e for e in logs if e["event"] == "delivery"]
    assert line["log_level"] == "warning" and line["outcome"] == "unauthorized"
    assert "error" in await resp.json()
    assert await store_of(client).list_deployments() == ()


async def test_missing_signature_header_is_401(client: TestClient[Any, Any]) -> None:
    body = github_push()
    headers = github_headers(body)
    del headers["X-Hub-Signature-256"]
    resp = await client.post("/hooks/github", data=body, headers=headers)
    assert resp.status == 401
    assert "X-Hub-Signature-256" in (await resp.json())["error"]


async def test_wrong_gitlab_token_is_401(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/hooks/gitlab", data=gitlab_push(),
                             headers=gitlab_headers(token=GITLAB_TOKEN + b"x"))
    assert resp.status == 401


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"{not json", "application/json"), (b"[1, 2]", "application/json"),
     (b"other=1", FORM), (b'{"zen": 1}', "application/json")],
    ids=["not-json", "not-object", "form-without-payload", "missing-fields"],
)
async def test_malformed_bodies_are_400(
    client: TestClient[Any, Any], body: bytes, content_type: str
) -> None:
    resp = await post_github(client, body, content_type=content_type)
    assert resp.status == 400
    assert (await resp.json())["error"]


async def test_other_content_type_is_415(client: TestClient[Any, Any]) -> None:
    resp = await post_github(client, github_push(), content_type="text/plain")
    assert resp.status == 415


async def test_body_over_the_limit_is_413(client: TestClient[Any, Any]) -> None:
    body = github_push(extra={"padding": "x" * (70 * 1024)})
    resp = await post_github(client, body)
    assert resp.status == 413


async def test_chunked_body_over_the_limit_is_413(client: TestClient[Any, Any]) -> None:
    body = github_push(extra={"padding": "x" * (70 * 1024)})

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 4096):
            yield body[i:i + 4096]

    resp = await client.post("/hooks/github", data=chunks(), headers=github_headers(body))
    assert resp.status == 413
    assert await store_of(client).list_deployments() == ()


async def test_disabled_source_is_404(aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    base = make_settings(tmp_path)
    settings = make_settings(tmp_path, sources={k: v for k, v in base.sources.items()
                                                if k.value != "gitea"})
    client = await aiohttp_client(create_app(settings, run_worker=False,
                                             registry=CollectorRegistry()))
    body = gitea_push()
    resp = await client.post("/hooks/gitea", data=body, headers=gitea_headers(body))
    assert resp.status == 404
    assert "gitea" in (await resp.json())["error"]


async def test_error_precedence_404_413_415_401_400(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    base = make_settings(tmp_path, server=ServerSettings(max_body_bytes=100))
    settings = make_settings(tmp_path, server=ServerSettings(max_body_bytes=100),
                             sources={k: v for k, v in base.sources.items()
                                      if k.value != "gitea"})
    client = await aiohttp_client(create_app(settings, run_worker=False,
                                             registry=CollectorRegistry()))
    big_bad = b"{" + b"x" * 200
    # disabled source beats everything, even an oversized unsigned body
    assert (await client.post("/hooks/gitea", data=big_bad,
                              headers={"Content-Type": "text/plain"})).status == 404
    # too large beats wrong media type and missing signature
    assert (await client.post("/hooks/github", data=big_bad,
                              headers={"Content-Type": "text/plain"})).status == 413
    small_bad = b"{x"
    # wrong media type beats missing signature
    assert (await client.post("/hooks/github", data=small_bad,
                              headers={"Content-Type": "text/plain"})).status == 415
    # missing signature beats malformed body
    assert (await client.post("/hooks/github", data=small_bad,
                              headers={"Content-Type": "application/json",
                                       "X-GitHub-Event": "push",
                                       "X-GitHub-Delivery": "p1"})).status == 401
    # signed but malformed
    assert (await post_github(client, small_bad)).status == 400
    # a Content-Encoding comes after 404 and the declared size, before type and signature
    encoded = {"Content-Type": "text/plain", "Content-Encoding": "gzip"}
    assert (await client.post("/hooks/gitea", data=small_bad, headers=encoded)).status == 404
    assert (await client.post("/hooks/github", data=big_bad, headers=encoded)).status == 413
    assert (await client.post("/hooks/github", data=small_bad, headers=encoded)).status == 415


async def test_every_answer_writes_one_delivery_line_with_its_outcome(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, server=ServerSettings(max_body_bytes=4000))
    settings = make_settings(tmp_path, server=ServerSettings(max_body_bytes=4000),
                             sources={k: v for k, v in settings.sources.items()
                                      if k.value != "gitea"})
    client = await aiohttp_client(create_app(settings, run_worker=False,
                                             registry=CollectorRegistry()))
    with capture_logs() as logs:
        await client.post("/hooks/gitea", data=b"{}", headers={"Content-Type": "text/plain"})
        await client.post("/hooks/github", data=b"x" * 5000)
        await client.post("/hooks/github", data=b"{}", headers={"Content-Encoding": "br"})
        await client.post("/hooks/github", data=b"{}", headers={"Content-Type": "text/plain"})
        await post_github(client, b"{x")
        await client.app[STORE].close()
        await post_github(client, github_push())
    lines = [(e["status"], e["outcome"], e["log_level"]) for e in logs if e["event"] == "delivery"]
    assert lines == [
        (404, "disabled", "info"), (413, "too_large", "info"),
        (415, "unsupported_media_type", "info"), (415, "unsupported_media_type", "info"),
        (400, "malformed", "info"), (503, "store_error", "error"),
    ]
    store_line = [e for e in logs if e["event"] == "delivery"][-1]
    assert "closed" in store_line["store_error"] and store_line["error"].endswith("retry later")


async def test_store_failure_is_503(client: TestClient[Any, Any]) -> None:
    # That a failed transaction writes nothing is shown by the store's own contract tests.
    store = store_of(client)
    await store.close()
    resp = await post_github(client, github_push())
    assert resp.status == 503
    assert "retry" in (await resp.json())["error"]
    assert (await client.get("/readyz")).status == 503


# -- operations: health, metrics, logs ----------------------------------------------------


async def test_health_and_readiness(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/healthz")).status == 200
    resp = await client.get("/readyz")
    assert resp.status == 200 and (await resp.json())["status"] == "ready"


async def test_metrics_count_deliveries_by_outcome(client: TestClient[Any, Any]) -> None:
    await post_github(client, github_push())
    await post_github(client, github_push(), secret=b"wrong")
    await post_github(client, github_ping(), event="ping")
    text = await (await client.get("/metrics")).text()
    assert 'relay_webhooks_received_total{event="push",outcome="accepted",source="github"} 1.0' \
        in text
    assert 'relay_webhooks_received_total{event="push",outcome="unauthorized",source="github"} ' \
        '1.0' in text
    assert 'relay_webhooks_received_total{event="ping",outcome="ignored",source="github"} 1.0' \
        in text
    assert 'relay_build_info{python="' in text and ',version="' in text


async def test_metrics_time_the_sqlite_store_threads_jobs(client: TestClient[Any, Any]) -> None:
    """relay_store_wait_seconds / relay_store_job_seconds: a delivery is an ingest job, the
    admin API's read another; both lanes exist from the start."""
    def count(text: str, name: str, lane: str) -> float:
        prefix = f'{name}_count{{lane="{lane}"}} '
        return float(next(line for line in text.splitlines()
                          if line.startswith(prefix))[len(prefix):])

    text = await (await client.get("/metrics")).text()
    before = {(n, lane): count(text, n, lane) for n in ("relay_store_wait_seconds",
              "relay_store_job_seconds") for lane in ("ingest", "other")}
    assert (await post_github(client, github_push(after=sha("timed")))).status == 202
    text = await (await client.get("/metrics")).text()
    for name in ("relay_store_wait_seconds", "relay_store_job_seconds"):
        assert count(text, name, "ingest") == before[(name, "ingest")] + 1
        assert count(text, name, "other") >= before[(name, "other")]


async def test_one_canonical_log_line_per_delivery_without_secrets(
    client: TestClient[Any, Any],
) -> None:
    body = github_push("acme/shop", after=sha("logged"))
    with capture_logs() as logs:
        await post_github(client, body, delivery="log-1")
        await post_github(client, body, secret=b"wrong", delivery="log-2")
    lines = [e for e in logs if e["event"] == "delivery"]
    assert len(lines) == 2
    ok, bad = lines
    assert ok["delivery_id"] == "github-log-1" and ok["outcome"] == "accepted"
    assert ok["repo"] == "acme/shop" and ok["ref"] == "refs/heads/main"
    assert ok["deployments"] and ok["source"] == "github" and ok["hook_event"] == "push"
    assert bad["outcome"] == "unauthorized" and bad["status"] == 401
    dumped = json.dumps(logs, default=str)
    assert SECRET.decode() not in dumped and "relay-rotated-secret" not in dumped


async def test_graceful_shutdown_closes_the_store(settings: Settings) -> None:
    app = create_app(settings, run_worker=False, registry=CollectorRegistry())
    runner = web.AppRunner(app)
    await runner.setup()
    store = app[STORE]
    await store.ping()
    await runner.cleanup()
    with pytest.raises(Exception, match="closed"):
        await store.ping()


@pytest.mark.parametrize(("paths_ignore", "status", "ignored"), [
    (("docs/**",), 200, "routes[0] paths: all of the 1 changed file match paths_ignore"),
    ((), 202, None),
])
async def test_file_lists_are_read_when_a_route_filters_paths(
        aiohttp_client: ClientFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        paths_ignore: tuple[str, ...], status: int, ignored: str | None) -> None:
    """The handler reads a push's file lists only when a route has `paths`/`paths_ignore`
    (Settings.reads_file_lists); with one, a docs-only push is ignored at once."""
    asked: list[bool] = []

    def parse_spy(*args: Any, file_lists: bool = True, **kw: Any) -> Any:
        asked.append(file_lists)
        return parse_delivery(*args, file_lists=file_lists, **kw)

    monkeypatch.setattr(relay.web, "parse_delivery", parse_spy)
    base = make_settings(tmp_path)
    first = replace(base.routes[0], filters=RouteFilters(paths_ignore=paths_ignore))
    settings = replace(base, routes=(first, *base.routes[1:]))
    assert settings.reads_file_lists is bool(paths_ignore)
    client = await aiohttp_client(create_app(settings, run_worker=False,
                                             registry=CollectorRegistry()))
    after = sha("docs-only")
    body = github_push(after=after, extra={"commits": [
        {"id": after, "message": "Docs", "timestamp": "2026-11-29T10:00:00Z",
         "added": ["docs/a.md"], "modified": [], "removed": []}]})
    resp = await post_github(client, body)
    assert resp.status == status, await resp.text()
    assert (await resp.json()).get("ignored") == ignored
    assert asked == [bool(paths_ignore)]
