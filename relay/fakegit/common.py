"""What the three fake hosts share: the host dialect, middlewares, the records routes.

Middleware order, outermost first: errors -> faults -> auth -> handler (faults act before
the token check, as a flaky network or proxy in front of the host would). Route names are
`OPERATION` or `OPERATION.detail`; the operation is what faults target.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from relay.fakegit.faults import parse_fault
from relay.fakegit.state import FakeError, FakeHost
from relay.simulator.faults import Fault, FaultKind

FAKE_HOST = web.AppKey("fake_git_host", FakeHost)
UNFAULTED = frozenset({"records", "control"})  # the fake's own routes: no faults, no counts
RATE_LIMIT_RESET_S = 60  # a rate-limit fault without retry-after resets this far ahead
HTML_PAGE = "<html><head><title>{status} {reason}</title></head><body><h1>{status} {reason}" \
            "</h1></body></html>"


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one host spells errors, tokens and rate limits."""

    source: str
    error_body: Callable[[FakeError], dict[str, Any]]
    token_of: Callable[[web.Request], str | None]
    rate_limit: Callable[[FakeHost, Fault], web.Response]
    unauthorized: str  # the host's message for a missing or wrong token


def operation_of(request: web.Request) -> str | None:
    name = request.match_info.route.name
    return name.split(".")[0] if name else None


def error_middleware(dialect: Dialect) -> Middleware:
    """Answer FakeError and aiohttp's HTTP errors in the host's error shape."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except FakeError as exc:
            return web.json_response(dialect.error_body(exc), status=exc.status)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return web.json_response(dialect.error_body(FakeError(exc.status, exc.reason)),
                                     status=exc.status)

    return middleware


def fault_middleware(dialect: Dialect) -> Middleware:
    """Apply the faults planned for the request's operation (see relay.fakegit.faults)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        operation = operation_of(request)
        if operation is None or operation in UNFAULTED:
            return await handler(request)
        host = request.app[FAKE_HOST]
        host.requests += 1
        plan = host.faults.plan(operation)
        if plan.delay_s:
            try:  # a hang ends early when the app shuts down
                await asyncio.wait_for(host.released.wait(), plan.delay_s)
            except TimeoutError:
                pass
        if plan.answer is not None:
            return _answer(request, dialect, host, plan.answer)
        response = await handler(request)
        return _truncate(response) if plan.truncate else response

    return middleware


def _answer(request: web.Request, dialect: Dialect, host: FakeHost,
            fault: Fault) -> web.StreamResponse:
    status = fault.status or 502
    if fault.kind is FaultKind.RESET:
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=500)  # never sent: the connection is gone
    if fault.kind is FaultKind.HTML:
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        return web.Response(status=status, content_type="text/html",
                            text=HTML_PAGE.format(status=status, reason=reason))
    if status == 429 or (status == 403 and dialect.source == "github"):
        return dialect.rate_limit(host, fault)
    body = dialect.error_body(FakeError(status, f"injected fault {fault.spec}"))
    return web.json_response(body, status=status)


def _truncate(response: web.StreamResponse) -> web.StreamResponse:
    if not isinstance(response, web.Response) or not isinstance(response.body, bytes):
        return response
    body = response.body
    return web.Response(body=body[: len(body) // 2], status=response.status,
                        content_type=response.content_type)


def auth_middleware(dialect: Dialect, token: str) -> Middleware:
    """A missing or wrong token answers 401 (the records routes need none)."""
    expected = token.encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if operation_of(request) in (None, "records"):
            return await handler(request)
        given = dialect.token_of(request)
        if not given or not hmac.compare_digest(given.encode(), expected):
            raise FakeError(401, dialect.unauthorized)
        response = await handler(request)
        if response.status != 304 and operation_of(request) not in UNFAULTED:
            request.app[FAKE_HOST].rate_used += 1
        return response

    return middleware


def bearer(request: web.Request, *schemes: str) -> str | None:
    """The token of `Authorization: SCHEME TOKEN` for any of `schemes` (case-insensitive)."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() in {s.lower() for s in schemes} and given.strip():
        return given.strip()
    return None


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, or a 400 naming the problem."""
    try:
        data = json.loads(await request.read() or b"null")
    except ValueError:
        raise FakeError(400, "Problems parsing JSON") from None
    if not isinstance(data, dict):
        raise FakeError(400, "Body should be a JSON object")
    return data


def int_query(request: web.Request, key: str, default: int, *, low: int = 1) -> int:
    """An integer query parameter (at least `low`), or a 400 naming it."""
    raw = request.query.get(key)
    try:
        value = default if raw is None else int(raw)
    except ValueError:
        raise FakeError(400, f"{key} must be an integer") from None
    if value < low:
        raise FakeError(400, f"{key} must be >= {low}")
    return value


def optional_text(data: dict[str, Any], key: str, *, default: str | None = None) -> str | None:
    value = data.get(key, default)
    if value is not None and not isinstance(value, str):
        raise FakeError(422, f"{key} is not a string", field_name=key)
    return value


def records_routes() -> web.RouteTableDef:
    """The fake's own routes (not the host's API), beside the API of each host:

    GET    /statuses     commit statuses received, oldest first (JSON list; no token)
    GET    /deployments  deployments received, each with its statuses (no token)
    GET    /faults       the faults still active and those fired (token)
    POST   /faults       {"spec": SPEC}: add a fault of relay.fakegit.faults.GRAMMAR (token)
    DELETE /faults       remove every fault (token)
    POST   /commits      {"repo", "sha", "parent"?, "files"?, "branch"?}: add a commit, and
                         move `branch` to it when given (token)
    """
    routes = web.RouteTableDef()

    @routes.get("/statuses", name="records.statuses")
    async def statuses(request: web.Request) -> web.Response:
        return web.json_response(request.app[FAKE_HOST].status_views())

    @routes.get("/deployments", name="records.deployments")
    async def deployments(request: web.Request) -> web.Response:
        return web.json_response(request.app[FAKE_HOST].deployment_views())

    @routes.get("/faults", name="control.faults")
    async def list_faults(request: web.Request) -> web.Response:
        faults = request.app[FAKE_HOST].faults
        return web.json_response({"active": [f.spec for f in faults.active],
                                  "fired": [f.spec for f in faults.fired]})

    @routes.post("/faults", name="control.add_fault")
    async def add_fault(request: web.Request) -> web.Response:
        spec = (await json_body(request)).get("spec")
        try:
            fault = parse_fault(spec if isinstance(spec, str) else "")
        except ValueError as exc:
            raise FakeError(400, str(exc)) from None
        request.app[FAKE_HOST].faults.add(fault)
        return web.json_response({"spec": fault.spec}, status=201)

    @routes.delete("/faults", name="control.clear_faults")
    async def clear_faults(request: web.Request) -> web.Response:
        request.app[FAKE_HOST].faults.clear()
        return web.Response(status=204)

    @routes.post("/commits", name="control.add_commit")
    async def add_commit(request: web.Request) -> web.Response:
        data = await json_body(request)
        repo, sha = data.get("repo"), data.get("sha")
        parent, branch = data.get("parent"), data.get("branch")
        files = data.get("files", [])
        if not isinstance(repo, str) or not isinstance(sha, str) or not repo or not sha:
            raise FakeError(400, "repo and sha must be non-empty strings")
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise FakeError(400, "files must be a list of paths")
        if not isinstance(parent, str | None) or not isinstance(branch, str | None):
            raise FakeError(400, "parent and branch must be strings")
        host = request.app[FAKE_HOST]
        host.add_repo(repo)
        host.add_commit(repo, sha, files=files, parent=parent)
        if branch:
            host.set_branch(repo, branch, sha)
        return web.json_response({"repo": repo, "sha": sha, "branch": branch}, status=201)

    return routes


def host_app(host: FakeHost, token: str, dialect: Dialect,
             *route_tables: web.RouteTableDef) -> web.Application:
    """One fake host's aiohttp app: middlewares, routes, and the hang release at shutdown."""
    if not token:
        raise ValueError(f"the fake {dialect.source} needs a non-empty token")
    app = web.Application(middlewares=[error_middleware(dialect), fault_middleware(dialect),
                                       auth_middleware(dialect, token)])
    app[FAKE_HOST] = host
    for table in (records_routes(), *route_tables):
        app.add_routes(table)

    async def arm(_app: web.Application) -> None:
        host.released.clear()

    async def release(_app: web.Application) -> None:
        host.released.set()

    app.on_startup.append(arm)
    app.on_shutdown.append(release)
    return app
