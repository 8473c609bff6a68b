"""The simulator's middlewares: count requests, inject faults, check the token, map errors.

Order, outermost first: errors -> faults -> auth -> handler. Faults act before the token
check, like a flaky network or gateway in front of the platform would.
"""

from __future__ import annotations

import asyncio
import hmac
from http import HTTPStatus

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from relay.simulator.faults import Fault, FaultKind, Faults
from relay.simulator.state import SimState
from relay.simulator.validation import ApiError

NO_TOKEN = 4010
BAD_TOKEN = 4011
NO_ENDPOINT = 4044
UNAUTHENTICATED_ROUTES = frozenset({"hook"})  # the hook key in the path is the credential

_PHRASES = {s.value: s.phrase for s in HTTPStatus}
HTML_PAGE = (
    "<html><head><title>{status} {reason}</title></head><body><center><h1>{status} {reason}"
    "</h1></center><hr><center>nginx</center></body></html>"
)


def error_response(status: int, code: int, msg: str, *, headers: dict[str, str] | None = None
                   ) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status, headers=headers)


def operation_of(request: web.Request) -> str | None:
    """The route name of the request (images, apps.get, ...), None if no route matched."""
    return request.match_info.route.name


def error_middleware(state: SimState) -> Middleware:
    """Count every request, and answer every error as `{"code", "msg"}` JSON."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        operation = operation_of(request)
        if operation is not None:
            state.requests[operation] += 1
        try:
            return await handler(request)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.msg)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            msg = "no such endpoint" if exc.status == 404 else exc.reason
            code = NO_ENDPOINT if exc.status == 404 else exc.status * 10
            return error_response(exc.status, code, msg)

    return middleware


def fault_middleware(faults: Faults) -> Middleware:
    """Apply the request-level faults planned for the request's operation."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        operation = operation_of(request)
        if operation is None:
            return await handler(request)
        plan = faults.plan(operation)
        if plan.delay_s:
            await asyncio.sleep(plan.delay_s)
        if plan.answer is not None:
            return _answer(request, plan.answer)
        response = await handler(request)
        return _truncate(response) if plan.truncate else response

    return middleware


def _answer(request: web.Request, fault: Fault) -> web.StreamResponse:
    """The answer a terminal fault gives instead of the handler's."""
    status = fault.status or 502
    if fault.kind is FaultKind.RESET:
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=500)  # never sent: the connection is gone
    if fault.kind is FaultKind.HTML:
        page = HTML_PAGE.format(status=status, reason=_PHRASES.get(status, "Error"))
        return web.Response(status=status, content_type="text/html", text=page)
    headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
    return error_response(status, status * 10, f"injected fault {fault.spec}", headers=headers)


def _truncate(response: web.StreamResponse) -> web.StreamResponse:
    """Keep the status and headers, send only the first half of the body."""
    if not isinstance(response, web.Response) or not isinstance(response.body, bytes):
        return response
    body = response.body
    return web.Response(body=body[: len(body) // 2], status=response.status,
                        content_type=response.content_type)


def auth_middleware(token: str) -> Middleware:
    """Require `Authorization: Token <token>` everywhere but the web hook."""
    expected = token.encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if operation_of(request) in UNAUTHENTICATED_ROUTES:
            return await handler(request)
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Token" or not given.strip():
            raise ApiError(401, NO_TOKEN, "Authorization: expected 'Token <token>'")
        if not hmac.compare_digest(given.strip().encode(), expected):
            raise ApiError(401, BAD_TOKEN, "Authorization: invalid token")
        return await handler(request)

    return middleware
