"""The status page's HTTP handlers (`/ui/...`, and `/` redirecting to it).

Every page needs a signed-in session (relay.ui.session); every form carries the session's
CSRF token and is refused without it. Answers carry a strict Content-Security-Policy (no
inline script, script-src 'self'), `no-store` caching for pages and long caching for the
static files (their URLs carry a content hash).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import urlencode

import jinja2
import structlog
from aiohttp import web
from aiohttp_sse import EventSourceResponse, sse_response

from relay.admin_api import audit, lift_pause, place_pause, read_holds
from relay.deployment import OPEN_STATUSES, Deployment, DeploymentStatus, iso
from relay.secret import Secret
from relay.store.admin_reads import DeploymentFilter
from relay.store.base import Conflict, NotFound
from relay.typedefs import API, CLOCK, LIVE, SETTINGS, STORE, WORKER
from relay.ui import views
from relay.ui.live import LiveFeed, Subscription
from relay.ui.session import (
    LOGIN_COOKIE,
    LOGIN_TTL_S,
    SESSION_COOKIE,
    SESSION_TTL_S,
    Session,
    Signer,
    new_nonce,
)

log = structlog.get_logger("relay.ui")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PAGE_SIZE = 50
MAX_REASON = 500
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".svg": "image/svg+xml"}


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    content_type: str
    etag: str


class UiState:
    """What the status page keeps per application: templates, static files, signer, feed."""

    def __init__(self) -> None:
        self._signers: dict[bytes, Signer] = {}  # by admin token: a reload may change it
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("relay.ui", "templates"),
            autoescape=True, undefined=jinja2.StrictUndefined,
            trim_blocks=True, lstrip_blocks=True)
        self.static: dict[str, StaticFile] = {}
        for item in resources.files("relay.ui").joinpath("static").iterdir():
            suffix = "." + item.name.rpartition(".")[2]
            if suffix in STATIC_TYPES:
                body = item.read_bytes()
                self.static[item.name] = StaticFile(
                    body, STATIC_TYPES[suffix], hashlib.sha256(body).hexdigest()[:16])
        self.env.globals["static"] = self.static_url
        self.env.globals["badge"] = views.badge
        self.env.globals["words_for"] = views.words_for
        self.env.globals["iso"] = iso
        self.env.filters["short"] = lambda sha: (sha or "")[:12]
        self.feed: LiveFeed | None = None

    def signer(self, token: Secret | None) -> Signer | None:
        """The session signer of the admin token in force (None: no token, the page is off).
        A token changed by a reload (SIGHUP) signs with a new key: older sessions end."""
        if token is None:
            return None
        key = token.encoded()
        found = self._signers.get(key)
        if found is None:
            self._signers.clear()  # keep only the token in force
            found = self._signers[key] = Signer(key)
        return found

    def static_url(self, name: str) -> str:
        return f"/ui/static/{name}?v={self.static[name].etag}"


UI = web.AppKey("relay_ui", UiState)


def _signer(request: web.Request) -> Signer | None:
    return request.app[UI].signer(request.app[LIVE].current.admin.token)
SESSION = web.RequestKey("relay_ui_session", Session)
FORM = web.RequestKey[Any]("relay_ui_form")  # the POSTed form (a MultiDictProxy)


def add_routes(app: web.Application) -> None:
    """Mount the status page on `app` (relay.app.create_app calls this)."""
    app[UI] = UiState()
    app.cleanup_ctx.append(_feed_ctx)
    app.on_shutdown.append(_close_feed)
    r = app.router
    r.add_get("/", _to_ui)
    r.add_get("/ui", _to_ui)
    r.add_get("/ui/static/{name}", static_file)
    r.add_get("/ui/sign-in", sign_in_form)
    r.add_post("/ui/sign-in", sign_in)
    r.add_post("/ui/sign-out", _page(sign_out))
    r.add_get("/ui/", _page(deployments_page))
    r.add_get("/ui/deployments/{id}", _page(deployment_page))
    r.add_post("/ui/deployments/{id}/cancel", _page(cancel))
    r.add_get("/ui/clusters", _page(clusters_page))
    r.add_get("/ui/clusters/{id}/platform", _page(platform_page))
    r.add_post("/ui/clusters/{id}/pause", _page(pause))
    r.add_post("/ui/clusters/{id}/resume", _page(resume))
    r.add_get("/ui/holds", _page(holds_page))
    r.add_get("/ui/events", _page(events))


async def _feed_ctx(app: web.Application) -> AsyncIterator[None]:
    state = app[UI]
    feed = LiveFeed(app[STORE], render=lambda dep: _event_data(
        state, dep, False, app[CLOCK].now()))
    state.feed = feed
    worker = app.get(WORKER)
    if worker is not None:
        worker.add_status_listener(feed.nudge)
    task = asyncio.create_task(feed.run(), name="relay-ui-live")
    try:
        yield
    finally:
        feed.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _close_feed(app: web.Application) -> None:
    feed = app[UI].feed
    if feed is not None:
        feed.close()  # open event streams end, so shutdown does not wait for them


# -- plumbing ---------------------------------------------------------------------------------


def _secure(request: web.Request) -> bool:
    """HTTPS: directly, or through one of `server.trusted_proxies` that says
    `X-Forwarded-Proto: https` (its first value: the proxy nearest the client)."""
    if request.secure:
        return True
    try:
        peer = ipaddress.ip_address(request.remote or "")
    except ValueError:
        return False
    if not any(peer in net for net in request.app[SETTINGS].server.trusted_proxies):
        return False
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return proto == "https"


def _harden(response: web.StreamResponse, *, cache: str = "no-store") -> web.StreamResponse:
    h = response.headers
    h["Content-Security-Policy"] = CSP
    h["X-Content-Type-Options"] = "nosniff"
    h["Referrer-Policy"] = "same-origin"
    h["X-Frame-Options"] = "DENY"
    h.setdefault("Cache-Control", cache)
    return response


def _render(request: web.Request, template: str, *, status: int = 200,
            **context: Any) -> web.Response:
    state = request.app[UI]
    session: Session | None = request.get(SESSION)
    signer = _signer(request)
    html = state.env.get_template(template).render(
        csrf=signer.csrf(session.sid) if signer and session else "",
        signed_in=session is not None, path=request.path, now=request.app[CLOCK].now(),
        **context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


_TITLES = {400: "Not understood", 401: "Sign in first", 403: "Refused", 404: "Not found",
           409: "Nothing to do", 501: "Not available", 502: "The cluster API did not answer",
           503: "Not available now"}


def _problem(request: web.Request, status: int, message: str) -> web.Response:
    title = _TITLES.get(status, f"Error {status}")
    return _harden(_render(request, "problem.html", status=status, title=title,
                           message=message))  # type: ignore[return-value]


def _page(handler: Handler) -> Handler:
    """Require a session (GET: else to the sign-in form; other methods: 403) and, for
    anything but GET, the session's CSRF token in the form's `csrf` field."""

    async def page(request: web.Request) -> web.StreamResponse:
        signer = _signer(request)
        if signer is None:
            return _problem(request, 404, "The status page is off: it signs in with the admin "
                                          "token, and admin.token_env names no set variable.")
        session = signer.verify(request.cookies.get(SESSION_COOKIE), now=time.time())
        if session is None:
            if request.method == "GET" and request.path != "/ui/events":
                target = request.path_qs if request.path_qs.startswith("/ui/") else "/ui/"
                raise web.HTTPSeeOther("/ui/sign-in?" + urlencode({"next": target}))
            return _problem(request, 403 if request.method != "GET" else 401,
                            "Sign in first: this needs a session.")
        request[SESSION] = session
        if request.method != "GET":
            form = await request.post()
            given = form.get("csrf")
            if not signer.csrf_ok(session.sid, given if isinstance(given, str) else None):
                return _problem(request, 403, "The form's CSRF token is missing or wrong: "
                                              "reload the page and try again.")
            request[FORM] = form
        response = await handler(request)
        if not response.prepared:
            _harden(response)
        return response

    return page


def _form(request: web.Request, name: str) -> str:
    value = request[FORM].get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _cookie(response: web.StreamResponse, request: web.Request, name: str, value: str,
            max_age: int, path: str = "/ui") -> None:
    response.set_cookie(name, value, max_age=max_age, path=path, httponly=True,
                        secure=_secure(request), samesite="Strict")


async def _to_ui(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/ui/")


async def static_file(request: web.Request) -> web.StreamResponse:
    found = request.app[UI].static.get(request.match_info["name"])
    if found is None:
        raise web.HTTPNotFound()
    if request.headers.get("If-None-Match") == f'"{found.etag}"':
        return _harden(web.Response(status=304), cache="public, max-age=31536000, immutable")
    response = web.Response(body=found.body, content_type=found.content_type.split(";")[0],
                            charset="utf-8")
    response.headers["ETag"] = f'"{found.etag}"'
    return _harden(response, cache="public, max-age=31536000, immutable")


# -- sign in and out --------------------------------------------------------------------------


def _next_target(value: str | None) -> str:
    """Only a path under /ui/ (no scheme, no host): never an open redirect."""
    if value and value.startswith("/ui/") and "//" not in value and "\\" not in value:
        return value
    return "/ui/"


async def sign_in_form(request: web.Request, *, error: str | None = None,
                       status: int = 200) -> web.StreamResponse:
    signer = _signer(request)
    if signer is None:
        return _problem(request, 404, "The status page is off: it signs in with the admin "
                                      "token, and admin.token_env names no set variable.")
    nonce = new_nonce()
    response = _render(request, "sign_in.html", status=status, title="Sign in", error=error,
                       login_csrf=signer.csrf("login:" + nonce),
                       next=_next_target(request.query.get("next")))
    _cookie(response, request, LOGIN_COOKIE, nonce, LOGIN_TTL_S, path="/ui/sign-in")
    return _harden(response)


async def sign_in(request: web.Request) -> web.StreamResponse:
    token = request.app[LIVE].current.admin.token
    signer = _signer(request)
    if signer is None or token is None:
        return _problem(request, 404, "The status page is off.")
    form = await request.post()
    nonce = request.cookies.get(LOGIN_COOKIE)
    given_csrf = form.get("csrf")
    if not nonce or not signer.csrf_ok(
            "login:" + nonce, given_csrf if isinstance(given_csrf, str) else None):
        return _problem(request, 403, "The sign-in form expired or its CSRF token is wrong: "
                                      "open the sign-in page again.")
    given = form.get("token")
    try:
        candidate = given.strip().encode("ascii") if isinstance(given, str) else b""
    except UnicodeError:
        candidate = b""
    if not candidate or not token.matches(candidate):
        audit(request, "ui_sign_in_refused")
        return await sign_in_form(request, error="That is not the admin token.", status=401)
    value, _ = signer.issue(now=time.time())
    next_value = form.get("next")
    response = web.HTTPSeeOther(_next_target(next_value if isinstance(next_value, str)
                                             else None))
    _cookie(response, request, SESSION_COOKIE, value, SESSION_TTL_S)
    response.del_cookie(LOGIN_COOKIE, path="/ui/sign-in")
    audit(request, "ui_sign_in")
    _harden(response)
    raise response


async def sign_out(request: web.Request) -> web.StreamResponse:
    response = web.HTTPSeeOther("/ui/sign-in")
    response.del_cookie(SESSION_COOKIE, path="/ui")
    audit(request, "ui_sign_out")
    _harden(response)
    raise response


# -- pages ------------------------------------------------------------------------------------


def _clusters(request: web.Request) -> list[int]:
    return sorted({r.cluster for r in request.app[LIVE].current.routes})


def _filter_from(request: web.Request) -> tuple[DeploymentFilter, dict[str, str]] | str:
    """The list filter of the query string, or a message naming the bad parameter."""
    q = request.query
    chosen: dict[str, str] = {}
    cluster = status = repo = before = None
    if q.get("cluster"):
        if not q["cluster"].isdigit() or len(q["cluster"]) > 12:
            return "cluster must be a cluster id (digits)"
        cluster = int(q["cluster"])
        chosen["cluster"] = q["cluster"]
    if q.get("status"):
        try:
            status = DeploymentStatus(q["status"])
        except ValueError:
            return "status must be one of " + ", ".join(s.value for s in DeploymentStatus)
        chosen["status"] = status.value
    if q.get("repo"):
        if len(q["repo"]) > 200:
            return "repo is too long (200 characters at most)"
        repo = q["repo"].strip()
        chosen["repo"] = repo
    if q.get("before"):
        if not q["before"].isdigit() or len(q["before"]) > 18:
            return "before must be a deployment id (digits)"
        before = int(q["before"])
    return DeploymentFilter(cluster=cluster, status=status, repo=repo, before_id=before,
                            limit=PAGE_SIZE + 1), chosen


async def deployments_page(request: web.Request) -> web.StreamResponse:
    parsed = _filter_from(request)
    if isinstance(parsed, str):
        return _problem(request, 400, parsed)
    query, chosen = parsed
    deps = await request.app[STORE].query_deployments(query)
    page = deps[:PAGE_SIZE]
    next_url = None
    if len(deps) > PAGE_SIZE:
        next_url = "/ui/?" + urlencode({**chosen, "before": str(page[-1].id)})
    return _render(request, "deployments.html", title="Deployments", deployments=page,
                   chosen=chosen, clusters=_clusters(request),
                   statuses=[s.value for s in DeploymentStatus], next_url=next_url,
                   first_url="/ui/?" + urlencode(chosen) if query.before_id else None,
                   live=True, kind_of=views.kind_of,
                   duration_of=views.duration_of)


def _dep_id(request: web.Request) -> int | None:
    raw = request.match_info["id"]
    return int(raw) if raw.isdigit() and len(raw) <= 18 else None


async def deployment_page(request: web.Request) -> web.StreamResponse:
    dep_id = _dep_id(request)
    store = request.app[STORE]
    dep = await store.get_deployment(dep_id) if dep_id is not None else None
    if dep is None:
        return _problem(request, 404, f"There is no deployment {request.match_info['id'][:30]}.")
    delivery = await store.get_delivery(dep.delivery_id) if dep.delivery_id else None
    repo_url = headers = None
    if delivery is not None:
        d = delivery.delivery
        repo_url = views.repository_url(d.source, d.body, d.content_type)
        headers = views.shown_headers(d.headers)
    source = dep.source.value if dep.source is not None else None
    superseding = [x for x in (await store.query_deployments(DeploymentFilter(
        cluster=dep.cluster, limit=200))) if x.superseded_by == dep.id]
    return _render(
        request, "deployment.html", title=f"Deployment {dep.id}", dep=dep,
        delivery=delivery.delivery if delivery else None, headers=headers,
        commit_url=views.commit_url(source, repo_url, dep.version),
        compare_url=views.compare_url(source, repo_url, dep.before, dep.version),
        repo_url=repo_url, supersedes=superseding,
        outbox=await store.outbox_for(dep.id), live=dep.status.is_open,
        **_live_context(dep))


def _live_context(dep: Deployment) -> dict[str, Any]:
    return {"steps": views.timeline(dep), "progress": views.progress_of(dep),
            "kind_of": views.kind_of, "duration_of": views.duration_of}


async def cancel(request: web.Request) -> web.StreamResponse:
    dep_id = _dep_id(request)
    reason = _form(request, "reason")[:MAX_REASON]
    if dep_id is None:
        return _problem(request, 404, "There is no such deployment.")
    if not reason or _form(request, "confirm") != "yes":
        return _problem(request, 400, "Canceling needs a reason and the confirmation box ticked.")
    try:
        dep = await request.app[STORE].cancel(dep_id, now=request.app[CLOCK].now(),
                                              reason=f"canceled on the status page: {reason}")
    except NotFound:
        return _problem(request, 404, f"There is no deployment {dep_id}.")
    except Conflict as exc:
        return _problem(request, 409, f"Deployment {dep_id} is already "
                                      f"{exc.deployment.status.value}: nothing to cancel.")
    worker = request.app.get(WORKER)
    if worker is not None:
        worker.canceled(dep)
    audit(request, "cancel", deployment_id=dep.id, cluster=dep.cluster, reason=reason,
          via="ui")
    feed = request.app[UI].feed
    if feed is not None:
        feed.nudge()
    raise web.HTTPSeeOther(f"/ui/deployments/{dep.id}")


async def clusters_page(request: web.Request) -> web.StreamResponse:
    store = request.app[STORE]
    held = await read_holds(request.app)
    quarantined = await store.quarantine()
    rows = []
    for cluster in _clusters(request):
        last = await store.query_deployments(DeploymentFilter(
            cluster=cluster, status=DeploymentStatus.SUCCEEDED, limit=1))
        open_deps = [d for s in (DeploymentStatus.TRIGGERING, DeploymentStatus.ROLLING_OUT,
                                 DeploymentStatus.QUEUED)
                     for d in await store.list_deployments(cluster=cluster, status=s, limit=20)]
        rows.append({
            "cluster": cluster,
            "running": last[0] if last else None,
            "in_flight": [d for d in open_deps if d.status is not DeploymentStatus.QUEUED],
            "waiting": [d for d in open_deps if d.status is DeploymentStatus.QUEUED],
            "holds": [h for c, h in held.active if c == cluster],
            "quarantine": [q for q in quarantined if q.cluster == cluster],
        })
    return _render(request, "clusters.html", title="Clusters", rows=rows)


async def platform_page(request: web.Request) -> web.StreamResponse:
    """The cluster as the platform reports it now (one GET to the cluster API, on demand)."""
    dep_id = _dep_id(request)
    if dep_id is None or dep_id not in _clusters(request):
        return _problem(request, 404, "No route names that cluster.")
    limit_s = 2 * request.app[SETTINGS].cluster_api.request_timeout_s  # a page, not a retry loop
    try:
        async with asyncio.timeout(limit_s):
            cluster = await request.app[API].get(dep_id)
    except Exception as exc:  # noqa: BLE001 - shown as the platform's answer, in words
        log.warning("platform read failed", cluster=dep_id, error=type(exc).__name__)
        return _problem(request, 502, f"The cluster API did not answer for cluster {dep_id} "
                                      f"({type(exc).__name__}).")
    return _render(request, "platform.html", title=f"Cluster {dep_id} on the platform",
                   cluster_id=dep_id, name=cluster.name, platform_status=cluster.status,
                   version=cluster.version, replicas=cluster.replicas,
                   containers=len(cluster.containers), updated_at=cluster.updated_at)


async def holds_page(request: web.Request) -> web.StreamResponse:
    store = request.app[STORE]
    held = await read_holds(request.app)
    return _render(request, "holds.html", title="Holds", active=held.active,
                   upcoming=held.upcoming, quarantine=await store.quarantine(),
                   clusters=_clusters(request),
                   open_deployments=[d for s in OPEN_STATUSES
                                     for d in await store.list_deployments(status=s, limit=50)])


async def _hold_change(request: web.Request, verb: str) -> web.StreamResponse:
    """Pause or resume a cluster as `POST /api/clusters/{id}/pause|resume` do (shared code:
    relay.admin_api.place_pause / lift_pause), then back to the holds page."""
    cluster = _dep_id(request)
    if cluster is None or cluster not in _clusters(request):
        return _problem(request, 404, "No route names that cluster.")
    reason = _form(request, "reason")[:MAX_REASON]
    if _form(request, "confirm") != "yes" or (verb == "pause" and not reason.strip()):
        return _problem(request, 400, f"To {verb}, give a reason and tick the confirmation.")
    if verb == "pause":
        hours = _form(request, "hours")
        now = request.app[CLOCK].now()  # one reading: since and until from the same instant
        until = None
        if hours:
            if not hours.isdigit() or not 0 < int(hours) <= 24 * 30:
                return _problem(request, 400, "hours must be a whole number from 1 to 720.")
            until = now + timedelta(hours=int(hours))
        await place_pause(request, cluster, reason, until, now=now, via="ui")
    elif not await lift_pause(request, cluster, reason=reason or None, via="ui"):
        return _problem(request, 404, f"Cluster {cluster} is not paused: nothing to resume.")
    raise web.HTTPSeeOther("/ui/holds")


async def pause(request: web.Request) -> web.StreamResponse:
    return await _hold_change(request, "pause")


async def resume(request: web.Request) -> web.StreamResponse:
    return await _hold_change(request, "resume")


# -- live updates -----------------------------------------------------------------------------


async def events(request: web.Request) -> web.StreamResponse:
    """`GET /ui/events[?deployment=ID]`: server-sent events. `row` events carry a list row's
    HTML (`{"id", "status", "html"}`); with `deployment`, `deployment` events carry that
    deployment's live section; `reload` asks the page to reload (it fell behind)."""
    state = request.app[UI]
    feed = state.feed
    raw = request.query.get("deployment", "")
    only = int(raw) if raw.isdigit() and len(raw) <= 18 else None
    if feed is None:
        return _problem(request, 503, "Live updates are not running.")
    try:
        async with feed.subscribe() as sub, sse_response(request) as stream:
            try:
                await _pump(request, stream, sub, only)
            except ConnectionResetError:
                pass  # the page went away
            return stream
    except OverflowError:
        return _problem(request, 503, "Too many live pages are open; reload later.")


async def _pump(request: web.Request, stream: EventSourceResponse, sub: Subscription,
                only: int | None) -> None:
    """Write the subscription's changes to the stream until either ends."""
    state = request.app[UI]
    while not sub.closed and stream.is_connected():
        batch = await sub.next_batch(15.0)
        if sub.overflowed:
            await stream.send("{}", event="reload")
            return
        chunks: list[str] = []
        for change in batch:  # one write per batch: one syscall, not one per event
            dep = change.deployment
            if only is None:
                chunks.append(_sse("row", change.row))
            elif dep.id == only:
                chunks.append(_sse("deployment", _event_data(
                    state, dep, True, request.app[CLOCK].now())))
        if chunks:  # (none: aiohttp-sse sends its own keep-alive pings)
            await stream.write("".join(chunks).encode("utf-8"))


def _sse(event: str, data: str) -> str:
    """One server-sent event (data is one line of JSON: json.dumps escapes newlines)."""
    return f"event: {event}\ndata: {data}\n\n"


def _event_data(state: UiState, dep: Deployment, detail: bool, now: datetime) -> str:
    if detail:
        html = state.env.get_template("_live.html").render(dep=dep, now=now, **_live_context(dep))
    else:
        html = state.env.get_template("_row.html").render(
            dep=dep, now=now, kind_of=views.kind_of, duration_of=views.duration_of)
    return json.dumps({"id": dep.id, "status": dep.status.value, "open": dep.status.is_open,
                       "html": html})
