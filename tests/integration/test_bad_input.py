"""Bad input is never a 5xx (issue 16 points 1-4, 6-8), on a real SQLite file and PostgreSQL.

What the parser lets through must be storable by both stores: a 503 means "retry later,
nothing was stored", never an answer to input that will fail the same way again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from relay.app import create_app
from relay.config import StoreSettings
from relay.events import Source
from relay.ingest import delivery_id_for
from relay.typedefs import STORE
from tests.factories import make_settings
from tests.payloads import github_headers, github_push, sha

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture(params=["sqlite", "postgres"])
async def client(
    request: pytest.FixtureRequest, aiohttp_client: ClientFactory, tmp_path: Path,
    postgres_databases: Callable[[], Awaitable[str]],
) -> TestClient[Any, Any]:
    settings = make_settings(tmp_path)
    if request.param == "postgres":
        url = await postgres_databases()
        settings = make_settings(tmp_path, store=StoreSettings(url=url))
    app = create_app(settings, run_worker=False, registry=CollectorRegistry())
    return await aiohttp_client(app)


async def post(client: TestClient[Any, Any], body: bytes, **kw: Any) -> Any:
    return await client.post("/hooks/github", data=body, headers=github_headers(body, **kw))


async def raw_request(client: TestClient[Any, Any], head: bytes, body: bytes) -> int:
    """Send bytes as they are (aiohttp's client would re-encode a header); return the status."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        async with asyncio.timeout(10):
            writer.write(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
                         + body)
            await writer.drain()
            status_line = await reader.readline()
            await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    return int(status_line.split()[1])


def signed_head(body: bytes, *, content_type: bytes, extra: bytes = b"") -> bytes:
    headers = github_headers(body)
    lines = [b"POST /hooks/github HTTP/1.1", b"Host: relay"]
    lines += [f"{k}: {v}".encode() for k, v in headers.items() if k.lower() != "content-type"]
    lines.append(b"Content-Type: " + content_type)
    return b"\r\n".join(lines) + b"\r\n" + extra


# -- point 1: lone surrogates, JSON escape or raw bytes -------------------------------------

@pytest.mark.parametrize("field", ["repository", "ref", "before", "after", "head_commit"])
async def test_lone_surrogate_escape_in_a_stored_field_is_400(
    client: TestClient[Any, Any], field: str,
) -> None:
    payload = json.loads(github_push())
    if field == "repository":
        payload["repository"]["full_name"] = "acme/\ud800"
    elif field == "head_commit":
        payload["head_commit"]["id"] = "\ud800"
    else:
        payload[field] = payload[field] + "\ud800"
    body = json.dumps(payload).encode("ascii")  # "\ud800" travels as the JSON escape
    resp = await post(client, body)
    assert resp.status == 400, await resp.text()
    assert "surrogate" in (await resp.json())["error"]


async def test_raw_surrogate_bytes_in_a_stored_field_is_400(client: TestClient[Any, Any]) -> None:
    body = github_push("acme/shop").replace(b"acme/shop", b"acme/\xed\xa0\x80")
    resp = await post(client, body)
    assert resp.status == 400, await resp.text()


# -- point 2: NUL, the same answer on both stores --------------------------------------------

@pytest.mark.parametrize("field", ["repository", "ref", "before", "after"])
async def test_nul_in_a_stored_field_is_400(client: TestClient[Any, Any], field: str) -> None:
    payload = json.loads(github_push())
    if field == "repository":
        payload["repository"]["full_name"] = "acme/\u0000shop"
    else:
        payload[field] = "\u0000" + payload[field]
    resp = await post(client, json.dumps(payload).encode())
    assert resp.status == 400, await resp.text()
    assert "NUL" in (await resp.json())["error"]


# -- point 3: a non-UTF-8 byte in a Content-Type parameter ----------------------------------

async def test_non_utf8_content_type_parameter_is_415(client: TestClient[Any, Any]) -> None:
    body = github_push()
    status = await raw_request(
        client, signed_head(body, content_type=b"application/json; charset=\xff"), body)
    assert status == 415


# -- point 4: any Content-Encoding, before the body and before authentication ------------------

@pytest.mark.parametrize("encoding", [b"gzip", b"br", b"deflate", b"zstd", b"x-unknown"])
async def test_content_encoding_is_415_before_authentication(
    client: TestClient[Any, Any], encoding: bytes, caplog: pytest.LogCaptureFixture,
) -> None:
    body = b"not compressed at all"
    head = (b"POST /hooks/github HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\n"
            b"Content-Encoding: " + encoding + b"\r\n")
    with capture_logs() as logs, caplog.at_level(logging.ERROR):
        status = await raw_request(client, head, body)
    assert status == 415
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [e for e in logs if e.get("log_level") in ("error", "critical")]


async def test_identity_content_encoding_is_accepted(client: TestClient[Any, Any]) -> None:
    body = github_push(after=sha("identity"))
    headers = {**github_headers(body), "Content-Encoding": "identity"}
    resp = await client.post("/hooks/github", data=body, headers=headers)
    assert resp.status == 202


# -- points 6 and 7: delivery keys bounded, ids unambiguous ---------------------------------

async def test_delivery_key_over_400_characters_is_400(client: TestClient[Any, Any]) -> None:
    resp = await post(client, github_push(), delivery="k" * 401)
    assert resp.status == 400
    assert "X-GitHub-Delivery" in (await resp.json())["error"]
    assert (await post(client, github_push(), delivery="k" * 400)).status == 202


async def test_a_key_equal_to_the_hashed_id_of_a_long_key_does_not_collide(
    client: TestClient[Any, Any],
) -> None:
    long_key = "k" * 300
    first = await post(client, github_push(after=sha("long")), delivery=long_key)
    assert first.status == 202
    hashed = (await first.json())["delivery_id"]
    second = await post(client, github_push(after=sha("short")),
                        delivery=hashed.removeprefix("github-"))
    assert second.status == 202, await second.text()
    assert (await second.json())["delivery_id"] != hashed
    again = await post(client, github_push(after=sha("long")), delivery=long_key)
    assert again.status == 200 and (await again.json())["delivery_id"] == hashed


def test_delivery_ids_of_unsafe_keys_cannot_be_spelled_by_a_safe_key() -> None:
    unsafe = delivery_id_for(Source.GITHUB, "a key with spaces")
    suffix = unsafe.removeprefix("github-")
    assert delivery_id_for(Source.GITHUB, suffix) != unsafe


# -- point 8: a 503 says why, in the log -----------------------------------------------------

async def test_webhook_503_logs_the_store_error(client: TestClient[Any, Any]) -> None:
    await client.app[STORE].close()
    with capture_logs() as logs:
        resp = await post(client, github_push())
    assert resp.status == 503
    [line] = [e for e in logs if e["event"] == "delivery"]
    assert line["log_level"] == "error"  # an operator must see that nothing was stored
    assert line["store_error"]
