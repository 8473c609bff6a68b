"""`cluster_api.base_url: embedded`: the simulator mounted on relay's own port answers as it
does alone (relay's middlewares must not take its requests for deliveries)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from relay.app import create_app
from tests.factories import API_TOKEN, make_settings

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


async def test_the_embedded_simulator_s_web_hook_answers(aiohttp_client: ClientFactory,
                                                         tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, base_url="embedded"), run_worker=False,
                     registry=CollectorRegistry())
    client = await aiohttp_client(app)
    got = await client.get("/simulator/api/v1/apps/10800",
                           headers={"Authorization": f"Token {API_TOKEN}"})
    assert got.status == 200, await got.text()
    hook = (await got.json())["web_hook_url"]
    path = hook[hook.index("/simulator/"):]
    answer = await client.post(path, data=b"{}", headers={"Content-Type": "application/json"})
    assert answer.status < 300, await answer.text()  # was 500: KeyError 'source'
