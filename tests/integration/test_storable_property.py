"""Property (hypothesis): whatever text a stored field carries, the answer is never a 5xx.

For every field relay stores (the delivery key, the event name, the Content-Type, the
repository, the ref, before, after, the commit, the head commit's time, GitLab's project
path, homepage and checkout_sha), on a real SQLite file and a real PostgreSQL: any value, as
a JSON escape or as raw UTF-8 / surrogate bytes, in a correctly signed delivery, is answered
2xx (and then reads back from the store) or 4xx. Only a store outage may be a 5xx.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from relay.app import create_app
from relay.config import StoreSettings
from relay.typedefs import STORE
from tests.factories import make_settings
from tests.payloads import (
    gitea_headers,
    gitea_push,
    github_headers,
    github_push,
    gitlab_headers,
    gitlab_push,
)

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
NASTY = ["\x00", "\ud800", "\udfff", "\udc80", "\x7f", "\u2028", "\uffff", "\U0001f600", "é",
         "/", " ", "\\", '"', "0" * 40, "refs/heads/", "\ufeff"]
TEXT = st.one_of(
    st.text(max_size=40),
    st.lists(st.sampled_from(NASTY), max_size=6).map("".join),
    st.tuples(st.text(max_size=10), st.sampled_from(NASTY), st.text(max_size=10)).map("".join),
    st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()),
            max_size=20),
)
HEADER = st.one_of(st.binary(max_size=40), st.text(max_size=40).map(str.encode),
                   st.integers(390, 410).map(lambda n: b"k" * n))
BODY_FIELDS = {
    "github": ["repository.full_name", "ref", "before", "after", "head_commit.id",
               "head_commit.timestamp", "commits"],
    "gitlab": ["project.path_with_namespace", "ref", "before", "after", "checkout_sha",
               "repository.homepage", "object_kind"],
    "gitea": ["repository.full_name", "ref", "before", "after"],
}
HEADER_FIELDS = {
    "github": ["X-GitHub-Delivery", "X-GitHub-Event", "Content-Type"],
    "gitlab": ["Idempotency-Key", "X-Gitlab-Event", "Content-Type"],
    "gitea": ["X-Gitea-Delivery", "X-Gitea-Event", "Content-Type"],
}
SEEN: dict[str, set[int]] = {}


@pytest.fixture(params=["sqlite", "postgres"])
async def client(
    request: pytest.FixtureRequest, aiohttp_client: ClientFactory, tmp_path: Path,
    postgres_databases: Callable[[], Awaitable[str]],
) -> TestClient[Any, Any]:
    settings_ = make_settings(tmp_path)
    if request.param == "postgres":
        settings_ = make_settings(tmp_path, store=StoreSettings(url=await postgres_databases()))
    app = create_app(settings_, run_worker=False, registry=CollectorRegistry())
    return await aiohttp_client(app)


def _delivery(source: str, field: str, text: str, raw: bool, header: bytes,
              seq: int) -> tuple[dict[str, bytes], bytes]:
    """A signed delivery of `source` whose `field` carries `text` (or `header`, raw)."""
    builder = {"github": github_push, "gitlab": gitlab_push, "gitea": gitea_push}[source]
    payload = json.loads(builder("acme/shop", "refs/heads/main"))
    if field in BODY_FIELDS[source]:
        if field == "repository.homepage":
            payload.pop("project", None)
        if field == "object_kind":
            payload["object_kind"] = text
        elif field == "commits":
            payload.pop("head_commit", None)
            payload["commits"] = [{"id": text, "timestamp": text}]
            payload["after"] = text
        else:
            *parents, last = field.split(".")
            target = payload
            for parent in parents:
                target = target.setdefault(parent, {})
            target[last] = text
    dumped = json.dumps(payload, ensure_ascii=not raw)
    body = dumped.encode("utf-8", "surrogatepass")  # raw: lone surrogates as ED A0 80 etc.
    key = f"prop-{seq}"
    if source == "github":
        headers = github_headers(body, delivery=key)
    elif source == "gitlab":
        headers = gitlab_headers(event="System Hook" if field == "object_kind" else "Push Hook",
                                 idempotency_key=key)
    else:
        headers = gitea_headers(body, delivery=key)
    encoded = {name: value.encode() for name, value in headers.items()}
    if field in HEADER_FIELDS[source]:
        value = header.replace(b"\r", b"").replace(b"\n", b"")
        encoded[field] = b"application/json; charset=" + value if field == "Content-Type" \
            else value
    return encoded, body


async def _send(client: TestClient[Any, Any], path: str, headers: dict[str, bytes],
                body: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        async with asyncio.timeout(10):
            lines = [f"POST {path} HTTP/1.1".encode(), b"Host: relay",
                     b"Content-Length: %d" % len(body), b"Connection: close"]
            lines += [name.encode() + b": " + value for name, value in headers.items()]
            writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
            await writer.drain()
            answer = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, content = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), content


COUNTER = iter(range(10**9))


@settings(max_examples=120, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_no_stored_field_value_yields_a_5xx(client: TestClient[Any, Any],
                                                  data: st.DataObject) -> None:
    source = data.draw(st.sampled_from(["github", "gitlab", "gitea"]), label="source")
    field = data.draw(st.sampled_from(BODY_FIELDS[source] + HEADER_FIELDS[source]),
                      label="field")
    text = data.draw(TEXT, label="text")
    raw = data.draw(st.booleans(), label="raw bytes")
    header = data.draw(HEADER, label="header bytes")
    headers, body = _delivery(source, field, text, raw, header, next(COUNTER))
    with capture_logs():
        status, content = await _send(client, f"/hooks/{source}", headers, body)
    assert status < 500, (status, content)
    assert status in (200, 202, 400, 401, 415), (status, content)
    if status in (200, 202):
        delivery_id = json.loads(content)["delivery_id"]
        stored = await client.app[STORE].get_delivery(delivery_id)
        assert stored is not None and stored.delivery.body == body
