"""The admin API's OpenAPI document: valid OpenAPI 3.1, and true of a live app.

A property-based run (hypothesis, with hypothesis-jsonschema drawing values from the
document's own schemas, plus unknown parameters and arbitrary JSON bodies) sends requests to
a real relay on a loopback port and checks every answer: never a 5xx, always a status the
document lists for that operation, always a body its schema accepts.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from prometheus_client import CollectorRegistry
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from relay.app import create_app
from relay.openapi import openapi_document
from tests.factories import ADMIN_HEADERS, make_settings
from tests.payloads import github_headers, github_push, sha

DOC_URI = "urn:relay:openapi"
RUNS = settings(max_examples=40, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def test_the_document_is_valid_openapi_3_1() -> None:
    validate(openapi_document())


@dataclass
class LiveRelay:
    port: int
    delivery_id: str
    deployment_id: int

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers={**ADMIN_HEADERS, **(headers or {})})
            resp = conn.getresponse()
            return resp.status, resp.getheader("Content-Type") or "", resp.read()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRelay]:
    """relay (no worker) on a loopback port, served from a thread with its own event loop."""
    tmp: Path = tmp_path_factory.mktemp("openapi")
    loop = asyncio.new_event_loop()
    app = create_app(make_settings(tmp), run_worker=False, registry=CollectorRegistry())
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    relay = LiveRelay(port, "", 0)
    body = github_push("acme/shop", after=sha("seed"))
    status, _, answer = relay.request("POST", "/hooks/github", body,
                                      github_headers(body, delivery="seed"))
    assert status == 202
    seeded = json.loads(answer)
    relay.delivery_id, relay.deployment_id = seeded["delivery_id"], \
        seeded["deployments"][0]["id"]
    try:
        yield relay
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


def _registry() -> Registry[Any]:
    return Registry().with_resource(DOC_URI, DRAFT202012.create_resource(openapi_document()))


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


OPERATIONS = [(path, method) for path, item in openapi_document()["paths"].items()
              for method in item]


def _check_answer(path: str, method: str, status: int, ctype: str, body: bytes) -> None:
    assert status < 500, (path, method, status, body[:300])
    responses = openapi_document()["paths"][path][method]["responses"]
    assert str(status) in responses, (path, method, status, body[:300])
    assert ctype.startswith("application/json"), ctype
    ref = f"{DOC_URI}#/{_pointer('paths', path, method, 'responses', str(status), 'content', 'application/json', 'schema')}"  # noqa: E501
    Draft202012Validator({"$ref": ref}, registry=_registry()).validate(json.loads(body))


ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10)


def _object_strategy(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects from an object schema: each property drawn from its own schema (or any JSON
    value, to reach the type checks); required ones mostly present. (hypothesis-jsonschema's
    own object strategy does not run on current hypothesis, so objects are built here.)"""
    props = {name: from_schema(sub) | ANY_JSON for name, sub in schema["properties"].items()}
    required = set(schema.get("required", ()))
    return st.fixed_dictionaries(
        {k: v for k, v in props.items() if k in required},
        optional={k: v for k, v in props.items() if k not in required},
    ) | st.fixed_dictionaries({}, optional=props)


def _query_strategy(params: list[dict[str, Any]]) -> st.SearchStrategy[dict[str, str]]:
    """Values drawn from each parameter's schema (each present or not), sometimes a stranger."""
    parts: dict[str, st.SearchStrategy[Any]] = {}
    for p in params:
        if p["in"] == "query":
            value = from_schema(p["schema"]).map(
                lambda v: json.dumps(v) if isinstance(v, bool) else str(v))
            parts[p["name"]] = value if p.get("required") else st.none() | value
    known = st.fixed_dictionaries(parts).map(lambda d: {k: v for k, v in d.items()
                                                        if v is not None})
    junk = st.dictionaries(st.sampled_from(["offset", "page", "x", "ref"]), st.text(max_size=5),
                           max_size=1)
    return st.tuples(known, junk).map(lambda t: {**t[1], **t[0]})


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_generated_requests_get_documented_answers(live: LiveRelay, path: str,
                                                   method: str) -> None:
    op = openapi_document()["paths"][path][method]
    params = op.get("parameters", [])
    body_schema = (op.get("requestBody", {}).get("content", {}).get("application/json", {})
                   .get("schema"))
    bodies: st.SearchStrategy[Any] = st.just(None)
    if body_schema is not None:
        schema = openapi_document()["components"]["schemas"][body_schema["$ref"].rsplit("/")[-1]]
        bodies = _object_strategy(schema) | ANY_JSON | st.just({"actoin": "hook"})
    path_values = {
        "id": st.sampled_from([str(live.deployment_id), "0", "x", "99999999999999999999"])
        | st.integers(0, 2**63 - 1).map(str),
        "delivery_id": st.sampled_from([live.delivery_id, "nope", "a%2Fb"])
        | st.text(min_size=1, max_size=20).map(lambda s: quote(s, safe="")),
    }

    @RUNS
    @given(query=_query_strategy(params), body=bodies, data=st.data())
    def run(query: dict[str, str], body: Any, data: st.DataObject) -> None:
        url = path
        for name, strategy in path_values.items():
            if "{" + name + "}" in url:
                url = url.replace("{" + name + "}", data.draw(strategy, label=name))
        if query:
            url += "?" + urlencode(query)
        raw = None if body is None else json.dumps(body).encode()
        status, ctype, answer = live.request(method.upper(), url, raw,
                                             {"Content-Type": "application/json"})
        _check_answer(path, method, status, ctype, answer)

    run()


def test_the_document_needs_the_token(live: LiveRelay) -> None:
    status, _, body = live.request("GET", "/api/openapi.json", headers={"Authorization": ""})
    assert status == 401 and b"token" in body
    status, _, body = live.request("GET", "/api/openapi.json")
    assert status == 200 and json.loads(body)["openapi"].startswith("3.1")


def test_every_api_route_is_documented(tmp_path: Path) -> None:
    """A route added under /api without its OpenAPI entry fails here."""
    app = create_app(make_settings(tmp_path), run_worker=False, registry=CollectorRegistry())
    served = {(r.resource.canonical, r.method.lower()) for r in app.router.routes()
              if r.resource is not None and r.resource.canonical.startswith("/api/")
              and r.method != "HEAD"}
    documented = {(path, method) for path, method in OPERATIONS}
    assert served == documented
