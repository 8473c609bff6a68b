"""The cluster API client honours the proxy variables (HTTP_PROXY / HTTPS_PROXY / NO_PROXY), as
docs/operations.md ("Proxies") says: a real proxy on loopback sees relay's request."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from relay.app import create_app
from relay.typedefs import API
from tests.factories import make_settings

# A host that does not resolve: only a proxy can answer for it.
UPSTREAM = "http://cluster-api.invalid:8000"
IMAGES = {"custom_images": [], "public_images": []}


async def proxy_server() -> tuple[TestServer, list[str]]:
    """A forward proxy for plain HTTP that answers every request itself and records the
    absolute URL it was asked for (a proxy gets `GET http://host/path`, not `GET /path`)."""
    seen: list[str] = []

    async def forward(request: web.Request) -> web.Response:
        seen.append(f"{request.url.host}{request.path}")
        return web.json_response(IMAGES)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    server = TestServer(app)
    await server.start_server()
    return server, seen


async def images_through_app(tmp_path: Path, aiohttp_client: Callable[..., Any],
                             base_url: str = UPSTREAM) -> Any:
    app = create_app(make_settings(tmp_path, base_url=base_url), run_worker=False,
                     registry=CollectorRegistry())
    client: TestClient[Any, Any] = await aiohttp_client(app)
    return await client.app[API].images()


async def test_cluster_api_requests_go_through_the_proxy_of_the_environment(
    tmp_path: Path, aiohttp_client: Callable[..., Any], monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, seen = await proxy_server()
    try:
        for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", str(server.make_url("")))
        await images_through_app(tmp_path, aiohttp_client)
        assert seen == ["cluster-api.invalid/api/v1/apps/images"]
    finally:
        await server.close()


async def test_no_proxy_bypasses_the_proxy(
    tmp_path: Path, aiohttp_client: Callable[..., Any], monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy, seen = await proxy_server()
    upstream, upstream_seen = await proxy_server()  # the real API this time, on loopback
    try:
        for name in ("no_proxy", "HTTPS_PROXY", "https_proxy", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", str(proxy.make_url("")))
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
        base_url = str(upstream.make_url("")).rstrip("/")
        assert await images_through_app(tmp_path, aiohttp_client, base_url) is not None
        assert seen == [] and upstream_seen == ["127.0.0.1/api/v1/apps/images"]
    finally:
        await proxy.close()
        await upstream.close()
